import { InMemoryEventStore } from '@haven/eventstore';
import { ACCESS_REFUSALS_SUPPRESSED, ACCESS_REFUSED, createAccessRefusalRecorder } from './access-refusals';

describe('the access refusal recorder', () => {
  it('records refusals one by one up to the cap per minute, then one summary of the rest', async () => {
    const store = new InMemoryEventStore();
    let now = new Date('2026-11-26T10:00:05Z');
    const recorder = createAccessRefusalRecorder({
      store,
      service: 'scheduling',
      maxPerMinute: 3,
      now: () => now,
    });
    const refusal = {
      method: '/haven.x.v1.X/Y',
      kind: 'unauthenticated' as const,
      reason: 'token expired',
      correlationId: 'c',
    };
    for (let i = 0; i < 10; i++) recorder.record(refusal);
    now = new Date('2026-11-26T10:01:00Z');
    recorder.record(refusal);
    await recorder.flush();
    const events = await store.read('security.refusals-scheduling-2026112610');
    expect(events.map((e) => e.type)).toEqual([
      ACCESS_REFUSED,
      ACCESS_REFUSED,
      ACCESS_REFUSED,
      ACCESS_REFUSALS_SUPPRESSED,
      ACCESS_REFUSED,
    ]);
    expect(events[3]?.data).toEqual({ count: 7, minute: '2026-11-26T10:00' });
    expect(events[0]?.data).toEqual({
      method: '/haven.x.v1.X/Y',
      kind: 'unauthenticated',
      reason: 'token expired',
    });
    expect(events[0]?.actor).toEqual({ kind: 'service', id: 'scheduling' });
  });

  it('logs and swallows a failed append', async () => {
    const warnings: unknown[] = [];
    const recorder = createAccessRefusalRecorder({
      store: { append: () => Promise.reject(new Error('nats down')) },
      service: 'audit',
      logger: { warn: (o: unknown) => warnings.push(o) } as never,
    });
    recorder.record({ method: '/m', kind: 'policy', reason: 'r', correlationId: 'c' });
    await recorder.flush();
    expect(warnings).toHaveLength(1);
  });
});
