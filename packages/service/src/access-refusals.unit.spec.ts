import { InMemoryEventStore } from '@haven/eventstore';
import { ACCESS_REFUSALS_SUPPRESSED, ACCESS_REFUSED, createAccessRefusalRecorder } from './access-refusals';

/** A recorder of `service` into a fresh in-memory store, its clock at 10:00:05 on 2026-11-26. */
const freshRecorder = (service: string) => {
  const store = new InMemoryEventStore();
  const recorder = createAccessRefusalRecorder({
    store,
    service,
    now: () => new Date('2026-11-26T10:00:05Z'),
  });
  return { store, recorder };
};

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
    const events = await store.read('security.refusals_scheduling-2026112610');
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
      code: 'UNAUTHENTICATED',
      service: 'scheduling',
    });
    // Nobody was authenticated: the actor is anonymous; the summary is the service's own.
    expect(events[0]?.actor).toEqual({ kind: 'anonymous', id: 'unauthenticated' });
    expect(events[3]?.actor).toEqual({ kind: 'service', id: 'scheduling' });
  });

  it('attributes a refusal to the refused caller, with code, target and correlation id', async () => {
    const { store, recorder } = freshRecorder('session');
    recorder.record({
      method: '/haven.session.v1.SessionService/AdmitParticipant',
      kind: 'permission',
      code: 'PERMISSION',
      reason: 'only the clinician of this visit may do that',
      target: 'visits/apt-1/participants/p-2',
      principal: { kind: 'user', id: 'u-b', role: 'clinician' },
      correlationId: 'corr-1',
    });
    await recorder.flush();
    const [event] = await store.read('security.refusals_session-2026112610');
    expect(event?.type).toBe(ACCESS_REFUSED);
    expect(event?.actor).toEqual({ kind: 'user', id: 'u-b', role: 'clinician' });
    expect(event?.correlationId).toBe('corr-1');
    expect(event?.data).toEqual({
      method: '/haven.session.v1.SessionService/AdmitParticipant',
      kind: 'permission',
      code: 'PERMISSION',
      reason: 'only the clinician of this visit may do that',
      target: 'visits/apt-1/participants/p-2',
      service: 'session',
      principalKind: 'user',
      principalId: 'u-b',
      role: 'clinician',
    });
  });

  it('drops a target that is not a resource name and a malformed code, and clips the reason', async () => {
    const { store, recorder } = freshRecorder('gateway');
    recorder.record({
      method: 'POST /api/join',
      kind: 'unauthenticated',
      code: 'not a code',
      reason: `line one\nline two ${'x'.repeat(300)}`,
      target: 'Robin Testpatient <robin@example.test>',
      correlationId: 'c',
    });
    await recorder.flush();
    const [event] = await store.read('security.refusals_gateway-2026112610');
    expect(event?.data['target']).toBeUndefined();
    expect(event?.data['code']).toBe('UNAUTHENTICATED');
    expect(String(event?.data['reason'])).not.toContain('\n');
    expect(String(event?.data['reason']).length).toBeLessThanOrEqual(200);
    expect(JSON.stringify({ data: event?.data, actor: event?.actor })).not.toContain('Robin');
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
