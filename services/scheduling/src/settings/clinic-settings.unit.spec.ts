import { SchedulingReadModel } from '../read-model';
import { CLINIC_SETTINGS_CHANGED, CLINIC_SETTINGS_STREAM, type ClinicSettingValues } from '@haven/service';

const changed = (
  revision: number,
  data: Record<string, unknown>,
  occurredAt = `2026-12-0${revision + 1}T10:00:00.000Z`,
) => ({
  stream: CLINIC_SETTINGS_STREAM,
  revision: BigInt(revision),
  type: CLINIC_SETTINGS_CHANGED,
  data,
  occurredAt,
});

const defaults: ClinicSettingValues = {
  timeZone: 'UTC',
  passcodeDelivery: 'front-desk',
  recordingPolicy: 'on-request',
  recordingPatientAccess: false,
  linkGraceMinutes: 30,
};

describe('the clinic settings in the read model', () => {
  it('are the deployment’s defaults until an admin saved some', () => {
    expect(new SchedulingReadModel().clinicSettings({ ...defaults, timeZone: 'Europe/Oslo' })).toEqual({
      ...defaults,
      timeZone: 'Europe/Oslo',
    });
  });

  it('fold each change once, in order: a replayed or older event changes nothing', () => {
    const model = new SchedulingReadModel();
    model.apply(changed(0, { timeZone: 'Europe/Berlin' }));
    model.apply(changed(1, { timeZone: 'America/New_York' }));
    model.apply(changed(0, { timeZone: 'Europe/Berlin' })); // the subscription delivers what this replica already folded
    expect(model.clinicSettings(defaults)).toEqual({
      ...defaults,
      timeZone: 'America/New_York',
      updateTime: '2026-12-02T10:00:00.000Z',
    });
  });

  it('keep each field an admin changed and the defaults of the others', () => {
    const model = new SchedulingReadModel();
    model.apply(changed(0, { recordingPolicy: 'off', linkGraceMinutes: 10 }));
    model.apply(changed(1, { passcodeDelivery: 'sms', recordingPatientAccess: true }));
    expect(model.clinicSettings(defaults)).toEqual({
      timeZone: 'UTC',
      passcodeDelivery: 'sms',
      recordingPolicy: 'off',
      recordingPatientAccess: true,
      linkGraceMinutes: 10,
      updateTime: '2026-12-02T10:00:00.000Z',
    });
    expect(model.savedClinicSettings()).not.toHaveProperty('timeZone');
  });

  it('ignore a value out of range or of an unknown kind (the defaults stay)', () => {
    const model = new SchedulingReadModel();
    model.apply(changed(0, { recordingPolicy: 'sometimes', linkGraceMinutes: 1, passcodeDelivery: 7 }));
    expect(model.clinicSettings(defaults)).toEqual({ ...defaults, updateTime: '2026-12-01T10:00:00.000Z' });
  });

  it('keep an idle timeout of 1 to 60 minutes and ignore one outside (the deployment’s default stays)', () => {
    const model = new SchedulingReadModel();
    model.apply(changed(0, { idleTimeoutSeconds: 600 }));
    expect(model.clinicSettings(defaults).idleTimeoutSeconds).toBe(600);
    for (const [revision, bad] of [59, 3601, 90.5, '600'].entries()) {
      model.apply(changed(revision + 1, { idleTimeoutSeconds: bad }));
      expect(model.clinicSettings(defaults).idleTimeoutSeconds).toBe(600);
    }
    model.apply(changed(9, { idleTimeoutSeconds: 60 }, '2026-12-07T10:00:00.000Z'));
    model.apply(changed(10, { linkGraceMinutes: 10 }, '2026-12-07T11:00:00.000Z'));
    // When the idle timeout itself changed (a shortened one counts from there), not any later change.
    expect(model.savedClinicSettings()).toMatchObject({
      idleTimeoutSeconds: 60,
      idleTimeoutChangeTime: '2026-12-07T10:00:00.000Z',
      updateTime: '2026-12-07T11:00:00.000Z',
    });
  });
});
