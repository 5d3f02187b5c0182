import { PrincipalKind } from '@haven/auth';
import { PHI_ACCESSED, phiAccessEvent, type PhiAccess } from './phi-access';

const clock = () => new Date('2026-03-02T09:00:00Z');
const read: PhiAccess = {
  principal: { kind: PrincipalKind.User, id: 'clin-1', role: 'clinician', scopes: [] },
  ctx: {
    correlationId: 'c-1',
    traceparent: undefined,
    method: 'haven.session.v1.SessionService/ListChatMessages',
  },
  patientId: 'pat-1',
  what: 'visits/v-1/messages',
  fields: ['text'],
  why: 'PHI_ACCESS_PURPOSE_TREATMENT',
  outcome: 'granted',
};

describe('phiAccessEvent', () => {
  it('names who read which patient’s fields, why, how it ended and through which method', () => {
    const event = phiAccessEvent(clock, read);
    expect(event).toMatchObject({
      type: PHI_ACCESSED,
      occurredAt: '2026-03-02T09:00:00.000Z',
      actor: { kind: 'user', id: 'clin-1' },
      correlationId: 'c-1',
      causationId: 'c-1',
    });
    expect(event.data).toEqual({
      who: { kind: 'user', id: 'clin-1', role: 'clinician' },
      patientId: 'pat-1',
      whose: 'patients/pat-1',
      what: 'visits/v-1/messages',
      fields: ['text'],
      why: 'PHI_ACCESS_PURPOSE_TREATMENT',
      outcome: 'granted',
      method: 'haven.session.v1.SessionService/ListChatMessages',
    });
    expect(event).not.toHaveProperty('traceparent');
  });

  it('names the break-glass grant only when the caller gives one, and gives each event its own id', () => {
    const glass = phiAccessEvent(clock, { ...read, breakGlassGrant: 'bg-1' });
    expect(glass.data).toMatchObject({ breakGlassGrant: 'bg-1' });
    expect(glass.id).not.toBe(phiAccessEvent(clock, read).id);
  });
});
