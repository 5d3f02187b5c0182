import { defaultRosterUrl, feedLabel, participantLabel, participantOfDisplay, rosterOf } from './roster';

describe('tile labels', () => {
  it('reads the participant id from the proxy’s display, MAC and all', () => {
    expect(participantOfDisplay('p0123abcd.c2lnbmF0dXJl')).toBe('p0123abcd');
    expect(participantOfDisplay('pbare')).toBe('pbare');
  });

  it('says the role, and which device when it is not the first', () => {
    expect(participantLabel({ id: 'a', kind: 'clinician' })).toBe('Clinician');
    expect(participantLabel({ id: 'a', kind: 'patient', device: 1 })).toBe('Patient');
    expect(participantLabel({ id: 'a', kind: 'patient', device: 2 })).toBe('Patient (second device)');
    expect(participantLabel({ id: 'a', kind: 'patient', device: 9 })).toBe('Patient (device 9)');
    expect(participantLabel({ id: 'a', kind: 'patient', device: 2, yours: true })).toBe('Your other device');
    expect(participantLabel({ id: 'a', kind: 'something-new' })).toBe('Participant');
    expect(participantLabel(undefined)).toBe('Participant');
  });

  it('reads both visit shapes', () => {
    const staff = rosterOf({
      visit: { participants: [{ id: 'x', kind: 'patient', device: 2, name: null }] },
    });
    expect(staff.get('x')).toEqual({ id: 'x', kind: 'patient', device: 2 });
    const patient = rosterOf({
      participants: [
        { id: 'y', kind: 'patient', device: 2, yours: true },
        { id: 'z', kind: 'guest', device: 1, yours: false },
      ],
    });
    expect([...patient.values()]).toEqual([
      { id: 'y', kind: 'patient', device: 2, yours: true },
      { id: 'z', kind: 'guest', device: 1 },
    ]);
    expect(rosterOf({ participants: [] }).size).toBe(0);
    expect(feedLabel(patient, { display: 'y.mac', kind: 'screen' })).toBe('Your other device’s screen');
  });

  it('puts a staff member’s name before the role, and the patient’s name only where the page holds it', () => {
    const clinician = { id: 'c', kind: 'clinician', device: 1, name: 'Dr. Amara Okafor' };
    expect(participantLabel(clinician)).toBe('Dr. Amara Okafor — clinician');
    expect(participantLabel({ ...clinician, device: 2 })).toBe(
      'Dr. Amara Okafor — clinician (second device)',
    );
    expect(participantLabel({ id: 'i', kind: 'interpreter' })).toBe('Interpreter');
    // The clinician's console holds the patient's name; the patient's and a guest's pages do not.
    const patient = { id: 'p', kind: 'patient', device: 1 };
    expect(participantLabel(patient, { patient: 'Maria Lopez' })).toBe('Maria Lopez — patient');
    expect(participantLabel(patient)).toBe('Patient');
    expect(participantLabel({ ...patient, yours: true }, { patient: 'Maria Lopez' })).toBe(
      'Your other device',
    );
    // The page's patient name never names someone of another role.
    expect(participantLabel({ id: 'g', kind: 'family' }, { patient: 'Maria Lopez' })).toBe('Family member');
    const roster = rosterOf({
      participants: [clinician, { id: 'x', kind: 'patient', device: 1, name: '  ' }],
    });
    expect(roster.get('x')).toEqual({ id: 'x', kind: 'patient', device: 1 });
    expect(feedLabel(roster, { display: 'c.mac', kind: 'screen' })).toBe('Dr. Amara Okafor’s screen');
    expect(feedLabel(roster, { display: 'x.mac', kind: 'screen' }, { patient: 'Maria Lopez' })).toBe(
      'Maria Lopez’s screen',
    );
  });

  it('reads the roster where the page gets its media credential', () => {
    expect(defaultRosterUrl('clinician', '/api/visits/abc/media')).toBe('/api/visits/abc');
    expect(defaultRosterUrl('patient', '/api/patient/media')).toBe('/api/patient/visit');
  });
});
