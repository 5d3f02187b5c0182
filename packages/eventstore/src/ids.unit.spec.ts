import { ValidationError } from '@haven/errors';
import { eventIdTimestamp, newEvent, newEventId, parseStreamName, streamName } from './ids';

describe('newEventId', () => {
  it('returns distinct, time-ordered UUIDv7s', () => {
    const ids = Array.from({ length: 50 }, () => newEventId());
    expect(new Set(ids).size).toBe(50);
    for (const id of ids)
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect([...ids].sort()).toEqual(ids);
  });

  it('encodes the creation time', () => {
    const before = Date.now();
    const ts = eventIdTimestamp(newEventId());
    expect(ts).toBeGreaterThanOrEqual(before);
    expect(ts).toBeLessThanOrEqual(Date.now());
    expect(eventIdTimestamp('not-a-uuid')).toBeUndefined();
    expect(eventIdTimestamp('0f8fad5b-d9cb-469f-a165-70867728950e')).toBeUndefined(); // v4
  });
});

describe('streamName / parseStreamName', () => {
  it('builds and parses <context>.<aggregate>-<id>', () => {
    const s = streamName({ context: 'scheduling', aggregate: 'appointment', id: '01J-abc_D' });
    expect(s).toBe('scheduling.appointment-01J-abc_D');
    expect(parseStreamName(s)).toEqual({ context: 'scheduling', aggregate: 'appointment', id: '01J-abc_D' });
    expect(parseStreamName('a1.b_2-x')).toEqual({ context: 'a1', aggregate: 'b_2', id: 'x' });
  });

  it.each([
    'Scheduling.appointment-1',
    'scheduling.Appointment-1',
    'scheduling.appointment',
    'scheduling.appointment-',
    'scheduling-appointment-1',
    '1sched.appointment-1',
    'scheduling.appointment-a.b',
    'scheduling.appointment-a b',
    'scheduling.appointment-a>',
    '',
  ])('rejects %p with ValidationError', (bad) => {
    expect(() => parseStreamName(bad)).toThrow(ValidationError);
  });

  it('names every bad part in the violations', () => {
    try {
      streamName({ context: 'Bad', aggregate: '9x', id: 'a.b' });
      throw new Error('expected a ValidationError');
    } catch (err) {
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).violations.map((v) => v.field)).toEqual(['context', 'aggregate', 'id']);
    }
  });
});

describe('newEvent', () => {
  const actor = { kind: 'user', id: 'u-1', role: 'admin' } as const;

  it('fills id, occurredAt, and correlation/causation defaulting to the id', () => {
    const e = newEvent({ type: 'haven.test.v1.Done', data: { a: 1 }, actor });
    expect(eventIdTimestamp(e.id)).toBeDefined();
    expect(new Date(e.occurredAt).toISOString()).toBe(e.occurredAt);
    expect(e.correlationId).toBe(e.id);
    expect(e.causationId).toBe(e.id);
    expect('phi' in e).toBe(false);
    expect('traceparent' in e).toBe(false);
  });

  it('defaults causation to a given correlation and keeps explicit values', () => {
    const e = newEvent({ type: 't', data: {}, actor, correlationId: 'c-1' });
    expect(e.causationId).toBe('c-1');
    const f = newEvent({
      type: 't',
      data: {},
      actor,
      correlationId: 'c-1',
      causationId: 'x-2',
      traceparent: 'tp',
    });
    expect([f.correlationId, f.causationId, f.traceparent]).toEqual(['c-1', 'x-2', 'tp']);
  });
});
