import { participantIdOf } from './room-access';

describe('the participant id of a caller', () => {
  const patient = { kind: 'patient', id: 'pat-1' };

  it('is one per device of a patient: each redemption of the link (token sid) is its own participant', () => {
    const first = participantIdOf({ ...patient, sessionId: 'redemption-1' });
    const second = participantIdOf({ ...patient, sessionId: 'redemption-2' });
    expect(first).not.toBe(second);
    expect(participantIdOf({ ...patient, sessionId: 'redemption-1' })).toBe(first);
    expect(first).toMatch(/^p[0-9a-f]{24}$/);
  });

  it('is one per staff user, whatever their session', () => {
    const user = { kind: 'user', id: 'clin-1' };
    expect(participantIdOf({ ...user, sessionId: 's-1' })).toBe(
      participantIdOf({ ...user, sessionId: 's-2' }),
    );
    expect(participantIdOf(user)).toBe(participantIdOf({ ...user, sessionId: 's-1' }));
  });
});
