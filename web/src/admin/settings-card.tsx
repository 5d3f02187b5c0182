/**
 * The clinic's settings: the time zone (IANA; the front desk, the console and the patients' invitations and
 * reminders name times in it, with its offset on that date), saved as ClinicSettingsChanged. The settings that
 * still come from the deployment's environment are listed with their variables.
 */
import { useEffect, useState, type FormEvent } from 'react';
import { api } from '../api/client';
import { Field, FormMessages, formValue, messageOf, useForm } from '../staff/form';
import { setClinicTimeZone } from '../staff/time';

/** GET /api/clinic-settings */
export interface ClinicSettings {
  readonly timeZone: string;
  readonly updateTime: string | null;
  readonly fromDeployment: { readonly idleTimeoutSec: number };
}

const LABELS = { timeZone: 'Time zone' };

/** The zones this browser knows, for the suggestions (none when it cannot list them). */
function knownZones(): readonly string[] {
  try {
    return Intl.supportedValuesOf('timeZone');
  } catch {
    return [];
  }
}

/** The clinic settings card. */
export function SettingsCard() {
  const [settings, setSettings] = useState<ClinicSettings | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const form = useForm(LABELS);

  useEffect(() => {
    let live = true;
    api<ClinicSettings>('GET', '/api/clinic-settings').then(
      (s) => live && setSettings(s),
      (err: unknown) => live && setLoadError(messageOf(err)),
    );
    return () => {
      live = false;
    };
  }, []);

  const save = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const el = event.currentTarget;
    const timeZone = formValue(new FormData(el), 'timeZone').trim();
    void form.run(el, async () => {
      const s = await api<ClinicSettings>('PUT', '/api/clinic-settings', { timeZone });
      setSettings(s);
      setClinicTimeZone(s.timeZone);
      form.setSuccess(`The clinic’s time zone is now ${s.timeZone}.`);
    });
  };

  return (
    <section id="admin-settings" className="card" aria-labelledby="admin-settings-title">
      <h2 id="admin-settings-title">Clinic settings</h2>
      {loadError ? (
        <p id="admin-settings-error" className="form-error" role="alert">
          {loadError}
        </p>
      ) : null}
      {settings ? (
        <form id="admin-settings-form" noValidate onSubmit={save} aria-busy={form.busy}>
          <Field
            key={settings.timeZone}
            name="timeZone"
            label="Time zone"
            hint="(such as Europe/Berlin)"
            state={form}
            list="time-zones"
            autoComplete="off"
            defaultValue={settings.timeZone}
            required
          />
          <datalist id="time-zones">
            {knownZones().map((z) => (
              <option key={z} value={z} />
            ))}
          </datalist>
          <p className="hint">
            The front desk, the clinician’s console and patients’ invitations and reminders show times in this
            zone, with its offset from UTC on that day.
            {settings.updateTime
              ? ` Last changed ${new Date(settings.updateTime).toLocaleString()}.`
              : ' This is the deployment’s default (HAVEN_CLINIC_TIME_ZONE).'}
          </p>
          <FormMessages id="admin-settings" state={form} />
          <button type="submit" className="button button-primary" disabled={form.busy}>
            Save settings
          </button>
        </form>
      ) : null}
      <h3>Set by the deployment</h3>
      <dl id="admin-settings-deployment" className="deployment-settings">
        <dt>Idle sign-out</dt>
        <dd>
          {settings
            ? `After ${Math.round(settings.fromDeployment.idleTimeoutSec / 60)} minutes without activity (HAVEN_IDLE_TIMEOUT_SEC)`
            : '—'}
        </dd>
        <dt>Passcode delivery</dt>
        <dd>
          HAVEN_PASSCODE_DELIVERY: read out by the front desk, or sent by the other channel than the link
        </dd>
        <dt>Recording</dt>
        <dd>HAVEN_RECORDING_POLICY and HAVEN_RECORDING_PATIENT_ACCESS</dd>
        <dt>Patient links</dt>
        <dd>Open 15 minutes before the start and close 30 minutes after the end</dd>
      </dl>
    </section>
  );
}
