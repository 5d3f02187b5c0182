import type { SealedPhi } from '@haven/eventstore';
import { causedBy, commandEvent } from './command-event';

const actor = { kind: 'user', id: 'u-1' } as const;
const at = new Date('2026-03-02T09:00:00Z');

describe('commandEvent', () => {
  it('gives the event the command’s envelope at the given time, caused by the correlation by default', () => {
    const event = commandEvent({ actor, correlationId: 'c-1' }, { type: 'T', data: { n: 1 } }, at);
    const { id, ...envelope } = event;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(envelope).toEqual({
      type: 'T',
      occurredAt: '2026-03-02T09:00:00.000Z',
      actor,
      correlationId: 'c-1',
      causationId: 'c-1',
      data: { n: 1 },
    });
  });

  it('keeps the metadata’s causation id, traceparent and the event’s sealed PHI', () => {
    const phi = { keyId: 'k', ciphertext: 'x' } as unknown as SealedPhi;
    const tp = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const event = commandEvent(
      { actor, correlationId: 'c-1', causationId: 'e-9', traceparent: tp },
      { type: 'T', data: {}, phi },
      at,
    );
    expect(event).toMatchObject({ causationId: 'e-9', traceparent: tp, phi });
  });

  it('takes a fresh id for every event and now when no time is given', () => {
    const before = Date.now();
    const [a, b] = [1, 2].map(() => commandEvent({ actor, correlationId: 'c-1' }, { type: 'T', data: {} }));
    expect(a!.id).not.toBe(b!.id);
    expect(Date.parse(a!.occurredAt)).toBeGreaterThanOrEqual(before);
    expect(a).not.toHaveProperty('traceparent');
  });
});

describe('causedBy', () => {
  it('continues the stored event’s correlation and trace, caused by the event', () => {
    const tp = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    expect(causedBy({ id: 'e-1', correlationId: 'c-1', traceparent: tp }, actor)).toEqual({
      actor,
      correlationId: 'c-1',
      causationId: 'e-1',
      traceparent: tp,
    });
    expect(causedBy({ id: 'e-2', correlationId: 'c-2' }, actor)).not.toHaveProperty('traceparent');
    // An empty traceparent (an older event stored from an empty header) is no trace context.
    expect(causedBy({ id: 'e-3', correlationId: 'c-3', traceparent: '' }, actor)).not.toHaveProperty(
      'traceparent',
    );
  });
});
