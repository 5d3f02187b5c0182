/**
 * The clinic's settings: the time zone (IANA; the front desk, the console and the patients' invitations and
 * reminders name times in it, with its offset on that date), how the passcode reaches the patient, the recording
 * policy, patients' access to their recordings, how long a new patient link stays open after the end and after
 * how many minutes without activity staff are signed out. Saving sends only the fields that changed (one
 * ClinicSettingsChanged); the services apply them without a restart.
 */
import { useEffect, useState, type FormEvent } from 'react';
import { api, ApiError } from '../api/client';
import { Field, FormMessages, formValue, messageOf, useForm, type FormState } from '../staff/form';
import { dateTimeOf, setClinicTimeZone } from '../staff/time';
import { Note } from '../ui/note';
import { whileCurrent } from '../api/while-current';
import { Options } from '../ui/options';
import type { ClinicSettingsView as ClinicSettings } from '../../../services/gateway/src/clinic-settings-view';

/** GET /api/clinic-settings (services/gateway/src/clinic-settings-view.ts). */
export type { ClinicSettings };

/** Bounds of the idle sign-out a clinic may save, minutes (the gateway checks them too). */
const IDLE_MINUTES = { min: 1, max: 60 } as const;

type Change = Partial<{
  timeZone: string;
  passcodeDelivery: string;
  recordingPolicy: string;
  recordingPatientAccess: boolean;
  linkGraceMinutes: number;
  idleTimeoutSec: number;
}>;

const LABELS = {
  timeZone: 'Time zone',
  passcodeDelivery: 'Passcode delivery',
  recordingPolicy: 'Recording',
  recordingPatientAccess: 'Patients see their recordings',
  linkGraceMinutes: 'Link stays open after the end',
  idleTimeoutMinutes: 'Idle sign-out',
};

/** The idle timeout in force, seconds: the clinic's, else the deployment's. */
const idleSecOf = (s: ClinicSettings): number => s.idleTimeoutSec ?? s.fromDeployment.idleTimeoutSec;

/** The idle field's value: whole minutes, or empty when the deployment's default is not (tests use seconds). */
const idleMinutesField = (s: ClinicSettings): string => {
  const sec = idleSecOf(s);
  return sec % 60 === 0 ? String(sec / 60) : '';
};

/** `15 minutes`, `1 minute`, `2 seconds`. */
function durationText(sec: number): string {
  const [n, unit] = sec % 60 === 0 ? [sec / 60, 'minute'] : [sec, 'second'];
  return `${n} ${unit}${n === 1 ? '' : 's'}`;
}

/** The form's idle minutes when they are not a whole number from 1 to 60, as the gateway would refuse them. */
function idleMinutesRefusal(data: FormData, s: ClinicSettings): ApiError | undefined {
  const minutes = formValue(data, 'idleTimeoutMinutes').trim();
  if (minutes === idleMinutesField(s)) return undefined;
  const n = Number(minutes);
  if (minutes !== '' && Number.isInteger(n) && n >= IDLE_MINUTES.min && n <= IDLE_MINUTES.max)
    return undefined;
  return new ApiError(400, {
    error: {
      fieldViolations: [
        {
          field: 'idleTimeoutMinutes',
          description: `must be a whole number of minutes from ${IDLE_MINUTES.min} to ${IDLE_MINUTES.max}`,
        },
      ],
    },
  });
}

/** A refusal of the gateway with its idle field (seconds) named as the form's (minutes). */
function withIdleField(err: unknown): unknown {
  if (!(err instanceof ApiError) || !err.fieldViolations.some((v) => v.field === 'idleTimeoutSec'))
    return err;
  return new ApiError(
    err.status,
    {
      error: {
        code: err.code,
        message: err.message,
        fieldViolations: err.fieldViolations.map((v) =>
          v.field === 'idleTimeoutSec'
            ? {
                field: 'idleTimeoutMinutes',
                description: `must be a whole number of minutes from ${IDLE_MINUTES.min} to ${IDLE_MINUTES.max}`,
              }
            : v,
        ),
      },
    },
    { cause: err },
  );
}

/** The zones this browser knows, for the suggestions (none when it cannot list them). */
function knownZones(): readonly string[] {
  try {
    return Intl.supportedValuesOf('timeZone');
  } catch {
    return [];
  }
}

/** The fields of the form that differ from the settings in force. */
function changeOf(data: FormData, s: ClinicSettings): Change {
  const change: Change = {};
  const timeZone = formValue(data, 'timeZone').trim();
  if (timeZone !== s.timeZone) change.timeZone = timeZone;
  const delivery = formValue(data, 'passcodeDelivery');
  if (delivery !== '' && delivery !== (s.passcodeDelivery ?? 'front-desk'))
    change.passcodeDelivery = delivery;
  const policy = formValue(data, 'recordingPolicy');
  if (policy !== '' && policy !== (s.recordingPolicy ?? '')) change.recordingPolicy = policy;
  const access = formValue(data, 'recordingPatientAccess');
  const savedAccess =
    s.recordingPatientAccess === null || s.recordingPatientAccess === undefined
      ? ''
      : String(s.recordingPatientAccess);
  if (access !== '' && access !== savedAccess) change.recordingPatientAccess = access === 'true';
  const grace = formValue(data, 'linkGraceMinutes').trim();
  if (grace !== '' && grace !== String(s.linkGraceMinutes ?? 30)) change.linkGraceMinutes = Number(grace);
  const idle = formValue(data, 'idleTimeoutMinutes').trim();
  if (idle !== idleMinutesField(s)) change.idleTimeoutSec = Number(idle) * 60;
  return change;
}

function successOf(change: Change, s: ClinicSettings): string {
  const keys = Object.keys(change);
  if (keys.length === 1 && change.timeZone !== undefined)
    return `The clinic’s time zone is now ${s.timeZone}.`;
  const label = (k: string) =>
    k === 'idleTimeoutSec' ? LABELS.idleTimeoutMinutes : LABELS[k as keyof typeof LABELS];
  return `Saved: ${keys.map(label).join(', ')}. It applies from now on.`;
}

/** The clinic settings card. */
/** A choice among `options` ([value, words]); with no `value` yet, first "The deployment’s default" (''). */
function ChoiceField({
  name,
  form,
  value,
  options,
}: {
  name: 'passcodeDelivery' | 'recordingPolicy' | 'recordingPatientAccess';
  form: FormState;
  value: string | undefined;
  options: ReadonlyArray<readonly [string, string]>;
}) {
  return (
    <Field name={name} label={LABELS[name]} state={form}>
      <select id={name} name={name} defaultValue={value ?? ''} aria-describedby={`${name}-error`}>
        {value === undefined ? <option value="">The deployment’s default</option> : null}
        <Options of={options} />
      </select>
    </Field>
  );
}

/** A whole number of minutes from `min` to `max`, labelled as the form names it. */
function MinutesField({
  name,
  hint,
  form,
  min,
  max,
  defaultValue,
}: {
  name: 'linkGraceMinutes' | 'idleTimeoutMinutes';
  hint: string;
  form: FormState;
  min: number;
  max: number;
  defaultValue: number | string;
}) {
  return (
    <Field
      name={name}
      label={LABELS[name]}
      hint={hint}
      state={form}
      type="number"
      inputMode="numeric"
      min={min}
      max={max}
      step={1}
      defaultValue={defaultValue}
    />
  );
}

export function SettingsCard() {
  const [settings, setSettings] = useState<ClinicSettings | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const form = useForm(LABELS);

  useEffect(
    () =>
      whileCurrent(
        api<ClinicSettings>('GET', '/api/clinic-settings'),
        (s) => setSettings(s),
        (err: unknown) => setLoadError(messageOf(err)),
      ),
    [],
  );

  const save = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    if (!settings) return;
    const el = event.currentTarget;
    const data = new FormData(el);
    const refusal = idleMinutesRefusal(data, settings);
    if (refusal) {
      form.fail(refusal, el);
      return;
    }
    const change = changeOf(data, settings);
    void form.run(el, async () => {
      if (Object.keys(change).length === 0) {
        form.setSuccess('Nothing changed.');
        return;
      }
      const s = await api<ClinicSettings>('PUT', '/api/clinic-settings', change).catch((err: unknown) => {
        throw withIdleField(err);
      });
      setSettings(s);
      setClinicTimeZone(s.timeZone);
      form.setSuccess(successOf(change, s));
    });
  };

  const version = settings?.updateTime ?? 'defaults';
  return (
    <section id="admin-settings" className="card" aria-labelledby="admin-settings-title">
      <h2 id="admin-settings-title">Clinic settings</h2>
      <Note id="admin-settings-error" kind="error">
        {loadError}
      </Note>
      {settings ? (
        <form id="admin-settings-form" key={version} noValidate onSubmit={save} aria-busy={form.busy}>
          <Field
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
              ? ` Last changed ${dateTimeOf(settings.updateTime)}.`
              : ' This is the deployment’s default (HAVEN_CLINIC_TIME_ZONE).'}
          </p>
          <ChoiceField
            name="passcodeDelivery"
            form={form}
            value={settings.passcodeDelivery ?? 'front-desk'}
            options={[
              ['front-desk', 'Read out by the front desk'],
              ['sms', 'By SMS (the link by e-mail)'],
              ['email', 'By e-mail (the link by SMS)'],
            ]}
          />
          <ChoiceField
            name="recordingPolicy"
            form={form}
            value={settings.recordingPolicy || undefined}
            options={[
              ['off', 'Off: nobody records'],
              ['on-request', 'On request, with everyone’s consent'],
              ['required', 'Every visit is recorded'],
            ]}
          />
          <ChoiceField
            name="recordingPatientAccess"
            form={form}
            value={
              settings.recordingPatientAccess === null || settings.recordingPatientAccess === undefined
                ? undefined
                : String(settings.recordingPatientAccess)
            }
            options={[
              ['false', 'No'],
              ['true', 'Yes, their own'],
            ]}
          />
          <p className="hint">
            Until saved here, the deployment’s defaults apply (HAVEN_RECORDING_POLICY,
            HAVEN_RECORDING_PATIENT_ACCESS). A change applies to the next recording and the next list of
            recordings.
          </p>
          <MinutesField
            name="linkGraceMinutes"
            hint="(minutes, 5 to 1440)"
            form={form}
            min={5}
            max={1440}
            defaultValue={settings.linkGraceMinutes ?? 30}
          />
          <p className="hint">
            Patient links open 15 minutes before the start; a link issued from now on closes this long after
            the end (links already sent keep their time).
          </p>
          <MinutesField
            name="idleTimeoutMinutes"
            hint="(minutes without activity, 1 to 60)"
            form={form}
            min={IDLE_MINUTES.min}
            max={IDLE_MINUTES.max}
            defaultValue={idleMinutesField(settings)}
          />
          <p id="admin-settings-idle" className="hint">
            Staff are signed out after this long without activity (HIPAA automatic logoff; 15 minutes is
            common practice). A change applies to everyone signed in; anyone already idle gets the new time
            from the change.
            {settings.idleTimeoutSec === null || settings.idleTimeoutSec === undefined
              ? ` Until saved here, the deployment’s default applies: ${durationText(settings.fromDeployment.idleTimeoutSec)} (HAVEN_IDLE_TIMEOUT_SEC).`
              : ` The deployment’s default is ${durationText(settings.fromDeployment.idleTimeoutSec)}.`}
          </p>
          <FormMessages id="admin-settings" state={form} />
          <button type="submit" className="button button-primary" disabled={form.busy}>
            Save settings
          </button>
        </form>
      ) : null}
    </section>
  );
}
