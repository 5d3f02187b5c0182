import { UnavailableError } from '@haven/errors';
import { InMemoryEventStore, type EventStore } from '@haven/eventstore';
import { PHI_ACCESSED, PrincipalKind, type PhiAccess } from '@haven/service';
import { PhiAccessRecorder, patientAccessStream } from './phi-access';

const clock = () => new Date('2026-03-02T09:00:00Z');

const access = (patientId: string, field: string, correlationId: string): PhiAccess => ({
  principal: { kind: PrincipalKind.Service, id: 'scheduling', scopes: [] },
  ctx: { correlationId, traceparent: undefined, method: 'scheduling.notifications/SendReminder' },
  patientId,
  what: `patients/${patientId}`,
  fields: [field],
  why: 'PHI_ACCESS_PURPOSE_TREATMENT_COMMUNICATION',
  outcome: 'granted',
});

describe('PhiAccessRecorder', () => {
  describe('when a batch reads one patient several times in one turn', () => {
    it('stores one PhiAccessed per patient listing every field, before any record resolves', async () => {
      const store = new InMemoryEventStore();
      const recorder = new PhiAccessRecorder({ store, clock });
      const stored: number[] = [];
      const records = [
        access('p-1', 'email', 'reminder-a'),
        access('p-1', 'phone', 'reminder-b'),
        access('p-1', 'email', 'reminder-c'),
        access('p-2', 'email', 'reminder-d'),
      ].map((a) =>
        recorder.record(a).then(async () => {
          stored.push((await store.read(patientAccessStream(a.patientId))).length);
        }),
      );
      await Promise.all(records);
      expect(stored).toEqual([1, 1, 1, 1]);
      const [one, ...more] = await store.read(patientAccessStream('p-1'));
      expect(more).toEqual([]);
      expect(one?.type).toBe(PHI_ACCESSED);
      expect(one?.data).toMatchObject({ patientId: 'p-1', fields: ['email', 'phone'], outcome: 'granted' });
      expect(one?.correlationId).toBe('reminder-a');
      expect(await store.read(patientAccessStream('p-2'))).toHaveLength(1);
    });

    it('keeps accesses with different purposes apart', async () => {
      const store = new InMemoryEventStore();
      const recorder = new PhiAccessRecorder({ store, clock });
      await Promise.all([
        recorder.record(access('p-1', 'email', 'a')),
        recorder.record({ ...access('p-1', 'email', 'b'), why: 'PHI_ACCESS_PURPOSE_TREATMENT' }),
      ]);
      expect(await store.read(patientAccessStream('p-1'))).toHaveLength(2);
    });
  });

  describe('when the store refuses the append', () => {
    it('rejects every access of the batch with UnavailableError', async () => {
      const failing: Pick<EventStore, 'append'> = {
        append: () => Promise.reject(new Error('store down')),
      };
      const recorder = new PhiAccessRecorder({ store: failing, clock });
      const results = await Promise.allSettled([
        recorder.record(access('p-1', 'email', 'a')),
        recorder.record(access('p-1', 'phone', 'b')),
      ]);
      for (const r of results) {
        expect(r.status).toBe('rejected');
        expect((r as PromiseRejectedResult).reason).toBeInstanceOf(UnavailableError);
      }
    });
  });
});
