import { SchedulingReadModel } from '../read-model';
import { CLINIC_SETTINGS_CHANGED, CLINIC_SETTINGS_STREAM } from './clinic-settings';

const changed = (
  revision: number,
  timeZone: string,
  occurredAt = `2026-12-0${revision + 1}T10:00:00.000Z`,
) => ({
  stream: CLINIC_SETTINGS_STREAM,
  revision: BigInt(revision),
  type: CLINIC_SETTINGS_CHANGED,
  data: { timeZone },
  occurredAt,
});

describe('the clinic settings in the read model', () => {
  it('are the deployment’s defaults until an admin saved some', () => {
    expect(new SchedulingReadModel().clinicSettings('Europe/Oslo')).toEqual({ timeZone: 'Europe/Oslo' });
  });

  it('fold each change once, in order: a replayed or older event changes nothing', () => {
    const model = new SchedulingReadModel();
    model.apply(changed(0, 'Europe/Berlin'));
    model.apply(changed(1, 'America/New_York'));
    model.apply(changed(0, 'Europe/Berlin')); // the subscription delivers what this replica already folded
    expect(model.clinicSettings('UTC')).toEqual({
      timeZone: 'America/New_York',
      updateTime: '2026-12-02T10:00:00.000Z',
    });
  });
});
