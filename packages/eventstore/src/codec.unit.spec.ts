import { ValidationError } from '@haven/errors';
import { decodeEnvelope, encodeEnvelope, parseEnvelope } from './codec';
import type { EventEnvelope } from './envelope';
import { newEventId } from './ids';

const envelope: EventEnvelope = {
  id: newEventId(),
  type: 'haven.test.v1.Happened',
  stream: 'test.thing-1',
  revision: 3n,
  occurredAt: '2026-01-02T03:04:05.000Z',
  actor: { kind: 'user', id: 'u-1', role: 'admin' },
  correlationId: 'c-1',
  causationId: 'c-0',
  data: { n: 1 },
  phi: { subject: 'p-1', keyId: 'k-1', ciphertext: 'AAAA' },
  request: { id: 'r-1', fingerprint: 'f-1' },
};

function violationsOf(raw: unknown): readonly { field: string; description: string }[] {
  try {
    parseEnvelope(raw);
  } catch (err) {
    if (err instanceof ValidationError) return err.violations;
    throw err;
  }
  throw new Error('parseEnvelope accepted a malformed envelope');
}

describe('decodeEnvelope / parseEnvelope', () => {
  it('round-trips an envelope with its optional phi and request', () => {
    expect(decodeEnvelope(encodeEnvelope(envelope))).toEqual(envelope);
  });

  it('leaves phi and request out when they are absent', () => {
    const { phi: _phi, request: _request, ...bare } = envelope;
    const decoded = decodeEnvelope(encodeEnvelope(bare));
    expect(decoded).toEqual(bare);
    expect(Object.keys(decoded)).not.toEqual(expect.arrayContaining(['phi']));
    expect(Object.keys(decoded)).not.toEqual(expect.arrayContaining(['request']));
  });

  it('keeps only the known fields of phi and request', () => {
    const wire = JSON.parse(Buffer.from(encodeEnvelope(envelope)).toString('utf8')) as Record<
      string,
      unknown
    >;
    const decoded = parseEnvelope({
      ...wire,
      phi: { ...envelope.phi, extra: 'x' },
      request: { ...envelope.request, extra: 'y' },
    });
    expect(decoded.phi).toEqual(envelope.phi);
    expect(decoded.request).toEqual(envelope.request);
  });

  it('names a malformed phi or request, with the fields it needs', () => {
    const wire = JSON.parse(Buffer.from(encodeEnvelope(envelope)).toString('utf8')) as Record<
      string,
      unknown
    >;
    expect(
      violationsOf({ ...wire, phi: { subject: 'p-1', keyId: 7, ciphertext: 'AAAA' }, request: 'r-1' }),
    ).toEqual([
      { field: 'phi', description: 'must be {subject, keyId, ciphertext}' },
      { field: 'request', description: 'must be {id, fingerprint}' },
    ]);
    expect(violationsOf({ ...wire, phi: null })).toEqual([
      { field: 'phi', description: 'must be {subject, keyId, ciphertext}' },
    ]);
  });
});
