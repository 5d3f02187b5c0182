/**
 * The front desk (and admins): register a patient, book an appointment with a clinician, the day's appointments
 * with their patient link (shown once) and cancellation.
 */
import { useCallback, useEffect, useRef, useState, type FormEvent } from 'react';
import { ApiError, api } from '../api/client';
import { Field, FormMessages, formValue, useForm } from './form';
import { guarded, useSession } from './session';
import { isoFromLocalInput, localDay, localInput, timeOf, timeZone } from './time';
import type { Appointment, AppointmentState, Clinician, Patient, PatientLink } from './types';

const STATE_LABELS: Readonly<Record<AppointmentState, string>> = {
  scheduled: 'Scheduled',
  in_progress: 'In progress',
  completed: 'Completed',
  cancelled: 'Cancelled',
  no_show: 'Missed',
};

const PATIENT_LABELS = { name: 'Full name', dateOfBirth: 'Date of birth', email: 'E-mail', phone: 'Phone' };
const BOOK_LABELS = { clinicianId: 'Clinician', patientId: 'Patient', startTime: 'Start', endTime: 'End' };

/** A default slot: from ten minutes from now, for thirty minutes. */
function defaultSlot(): { start: string; end: string } {
  const start = new Date(Date.now() + 10 * 60_000);
  start.setSeconds(0, 0);
  return { start: localInput(start), end: localInput(new Date(start.getTime() + 30 * 60_000)) };
}

function NewPatient({ onAdded }: { onAdded: (p: Patient) => void }) {
  const session = useSession();
  const form = useForm(PATIENT_LABELS);
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const el = event.currentTarget;
    const data = new FormData(el);
    const body: Record<string, string> = {
      name: formValue(data, 'name'),
      dateOfBirth: formValue(data, 'dateOfBirth'),
    };
    for (const f of ['email', 'phone']) if (formValue(data, f).trim()) body[f] = formValue(data, f);
    void form.run(el, async () => {
      try {
        const r = await api<{ patient: { id: string } }>('POST', '/api/patients', body);
        onAdded({ id: r.patient.id, name: body['name'] ?? '', dateOfBirth: body['dateOfBirth'] ?? '' });
        el.reset();
        form.setSuccess(`${body['name'] ?? ''} was added and is selected for booking below.`);
      } catch (err) {
        if (err instanceof ApiError && err.status === 401) return session.signedOut('revoked');
        throw err;
      }
    });
  };
  return (
    <section className="card" aria-labelledby="patient-title">
      <h2 id="patient-title">New patient</h2>
      <form id="patient-form" noValidate onSubmit={submit} aria-busy={form.busy}>
        <FormMessages id="patient" state={form} />
        <div className="grid">
          <Field name="name" label="Full name" state={form} type="text" autoComplete="off" required />
          <Field name="dateOfBirth" label="Date of birth" state={form} type="date" required />
          <Field name="email" label="E-mail" hint="(optional)" state={form} type="email" autoComplete="off" />
          <Field
            name="phone"
            label="Phone"
            hint="(optional, +15551234567)"
            state={form}
            type="tel"
            autoComplete="off"
          />
        </div>
        <button type="submit" className="button button-primary" disabled={form.busy}>
          Add patient
        </button>
      </form>
    </section>
  );
}

function Select({
  name,
  value,
  onChange,
  options,
  placeholder,
  invalid,
}: {
  name: string;
  value: string;
  onChange: (v: string) => void;
  options: ReadonlyArray<readonly [string, string]>;
  placeholder: string;
  invalid: boolean;
}) {
  return (
    <select
      id={name}
      name={name}
      required
      value={value}
      onChange={(e) => onChange(e.target.value)}
      aria-describedby={`${name}-error`}
      aria-invalid={invalid ? true : undefined}
    >
      <option value="">{placeholder}</option>
      {options.map(([id, label]) => (
        <option key={id} value={id}>
          {label}
        </option>
      ))}
    </select>
  );
}

function LinkPanel({ link, onClose }: { link: PatientLink; onClose: () => void }) {
  const panel = useRef<HTMLElement>(null);
  const [status, setStatus] = useState('');
  useEffect(() => panel.current?.focus(), [link]);
  const copy = async (id: string, value: string) => {
    try {
      await navigator.clipboard.writeText(value);
      setStatus('Copied.');
    } catch {
      document.querySelector<HTMLInputElement>(`#${id}`)?.select();
      setStatus('Select and copy it with your keyboard.');
    }
  };
  return (
    <section id="link-panel" ref={panel} className="link-panel" aria-labelledby="link-title" tabIndex={-1}>
      <h3 id="link-title">Patient link</h3>
      <p className="notice">
        Shown only once. Send the link to the patient, and{' '}
        <strong>read the passcode to the patient or send it separately</strong> (never in the same message as
        the link).
      </p>
      <div className="field">
        <label htmlFor="link-url">Link</label>
        <div className="copy-row">
          <input id="link-url" type="text" readOnly value={link.url} />
          <button
            type="button"
            className="button button-quiet"
            onClick={() => void copy('link-url', link.url)}
          >
            Copy link
          </button>
        </div>
      </div>
      <div className="field">
        <label htmlFor="link-passcode">Passcode</label>
        <div className="copy-row">
          <input id="link-passcode" className="passcode" type="text" readOnly value={link.passcode} />
          <button
            type="button"
            className="button button-quiet"
            onClick={() => void copy('link-passcode', link.passcode)}
          >
            Copy passcode
          </button>
        </div>
      </div>
      <p id="link-window" className="hint">
        {link.validFrom && link.validUntil
          ? `The link works from ${new Date(link.validFrom).toLocaleString()} until ${new Date(link.validUntil).toLocaleString()}. Issuing a new link stops this one.`
          : 'Issuing a new link stops this one.'}
      </p>
      <p id="copy-status" className="hint" role="status">
        {status}
      </p>
      <button type="button" id="link-close" className="button button-quiet" onClick={onClose}>
        Done
      </button>
    </section>
  );
}

/** The front desk's screen. */
export function FrontDesk() {
  const session = useSession();
  const [clinicians, setClinicians] = useState<readonly Clinician[]>([]);
  const [patients, setPatients] = useState<readonly Patient[]>([]);
  const [clinicianId, setClinicianId] = useState('');
  const [patientId, setPatientId] = useState('');
  const [slot, setSlot] = useState(defaultSlot);
  const [day, setDay] = useState(() => localDay(new Date()));
  const [appointments, setAppointments] = useState<readonly Appointment[] | null>(null);
  const [dayError, setDayError] = useState<string | null>(null);
  const [link, setLink] = useState<PatientLink | null>(null);
  const book = useForm(BOOK_LABELS);

  useEffect(() => {
    void (async () => {
      const onError = (m: string) => book.setError(m);
      const [c, p] = await Promise.all([
        guarded(session, () => api<{ clinicians: Clinician[] }>('GET', '/api/clinicians'), onError),
        guarded(
          session,
          () => api<{ patients: Patient[] }>('GET', '/api/patients?purpose=treatment'),
          onError,
        ),
      ]);
      if (c) setClinicians(c.clinicians);
      if (p)
        setPatients((now) => [...p.patients, ...now.filter((x) => !p.patients.some((y) => y.id === x.id))]);
    })();
    // Once, when the screen opens.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  const loadDay = useCallback(
    async (which: string) => {
      setDayError(null);
      const r = await guarded(
        session,
        () =>
          api<{ appointments: Appointment[] }>(
            'GET',
            `/api/appointments?day=${which}&timeZone=${encodeURIComponent(timeZone())}`,
          ),
        setDayError,
      );
      if (r) setAppointments(r.appointments);
    },
    [session],
  );
  useEffect(() => {
    let live = true;
    void guarded(
      session,
      () =>
        api<{ appointments: Appointment[] }>(
          'GET',
          `/api/appointments?day=${day}&timeZone=${encodeURIComponent(timeZone())}`,
        ),
      (m) => live && setDayError(m),
    ).then((r) => live && r && setAppointments(r.appointments));
    return () => {
      live = false;
    };
  }, [day, session]);

  const submitBooking = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const el = event.currentTarget;
    const data = new FormData(el);
    void book.run(el, async () => {
      try {
        const r = await api<{ appointment: Appointment }>('POST', '/api/appointments', {
          clinicianId: formValue(data, 'clinicianId'),
          patientId: formValue(data, 'patientId'),
          startTime: isoFromLocalInput(formValue(data, 'startTime')),
          endTime: isoFromLocalInput(formValue(data, 'endTime')),
        });
        const start = new Date(r.appointment.startTime ?? Date.now());
        book.setSuccess(`Appointment booked for ${start.toLocaleString()}.`);
        const next = localDay(start);
        if (next === day) await loadDay(day);
        else setDay(next);
      } catch (err) {
        if (err instanceof ApiError && err.status === 401) return session.signedOut('revoked');
        throw err;
      }
    });
  };

  const issueLink = async (a: Appointment) => {
    setDayError(null);
    const r = await guarded(
      session,
      () => api<PatientLink>('POST', `/api/appointments/${a.id}/link`, {}),
      setDayError,
    );
    if (r) setLink(r);
  };

  const cancel = async (a: Appointment) => {
    if (!window.confirm(`Cancel the appointment at ${timeOf(a.startTime)}? The patient link stops working.`))
      return;
    const done = await guarded(
      session,
      () => api('POST', `/api/appointments/${a.id}/cancel`, { reason: 'other' }),
      setDayError,
    );
    if (done !== undefined) await loadDay(day);
  };

  const patientById = new Map(patients.map((p) => [p.id, p]));
  const clinicianName = new Map(clinicians.map((c) => [c.id, c.displayName]));

  return (
    <div id="front-desk">
      <NewPatient
        onAdded={(p) => {
          setPatients((now) => [...now, p]);
          setPatientId(p.id);
        }}
      />

      <section id="book" className="card" aria-labelledby="book-title">
        <h2 id="book-title">Book an appointment</h2>
        <form id="book-form" noValidate onSubmit={submitBooking} aria-busy={book.busy}>
          <FormMessages id="book" state={book} />
          <div className="grid">
            <Field name="clinicianId" label="Clinician" state={book}>
              <Select
                name="clinicianId"
                value={clinicianId}
                onChange={setClinicianId}
                options={clinicians.map((c) => [c.id, c.displayName] as const)}
                placeholder="Choose a clinician"
                invalid={!!book.fieldErrors['clinicianId']}
              />
            </Field>
            <Field name="patientId" label="Patient" state={book}>
              <Select
                name="patientId"
                value={patientId}
                onChange={setPatientId}
                options={patients.map((p) => [p.id, `${p.name} (born ${p.dateOfBirth})`] as const)}
                placeholder="Choose a patient"
                invalid={!!book.fieldErrors['patientId']}
              />
            </Field>
            <Field
              name="startTime"
              label="Start"
              state={book}
              type="datetime-local"
              required
              value={slot.start}
              onChange={(e) => {
                const start = e.target.value;
                setSlot((s) => ({ ...s, start }));
              }}
            />
            <Field
              name="endTime"
              label="End"
              state={book}
              type="datetime-local"
              required
              value={slot.end}
              onChange={(e) => {
                const end = e.target.value;
                setSlot((s) => ({ ...s, end }));
              }}
            />
          </div>
          <button type="submit" className="button button-primary" disabled={book.busy}>
            Book appointment
          </button>
        </form>
      </section>

      <section className="card" aria-labelledby="day-title">
        <h2 id="day-title">Appointments</h2>
        <div className="field inline-field">
          <label htmlFor="day">Day</label>
          <input
            id="day"
            name="day"
            type="date"
            value={day}
            onChange={(e) => setDay(e.target.value || localDay(new Date()))}
          />
        </div>
        {dayError ? (
          <p id="day-error" className="form-error" role="alert">
            {dayError}
          </p>
        ) : null}
        {link ? <LinkPanel link={link} onClose={() => setLink(null)} /> : null}
        <ul id="appointments" className="list" aria-live="polite">
          {(appointments ?? []).map((a) => {
            const open = a.state === 'scheduled' || a.state === 'in_progress';
            return (
              <li key={a.id} className="row">
                <div className="row-main">
                  <strong>{`${timeOf(a.startTime)}–${timeOf(a.endTime)}`}</strong>
                  <span>
                    {` ${patientById.get(a.patientId)?.name ?? 'Patient'} with ${clinicianName.get(a.clinicianId) ?? 'clinician'}`}
                  </span>
                  <span className={`badge badge-${a.state}`}>{STATE_LABELS[a.state] ?? a.state}</span>
                </div>
                {open ? (
                  <div className="row-actions">
                    <button
                      type="button"
                      className="button button-quiet"
                      aria-label={`Patient link for ${timeOf(a.startTime)}`}
                      onClick={() => void issueLink(a)}
                    >
                      Patient link
                    </button>
                    <button
                      type="button"
                      className="button button-quiet"
                      aria-label={`Cancel appointment at ${timeOf(a.startTime)}`}
                      onClick={() => void cancel(a)}
                    >
                      Cancel
                    </button>
                  </div>
                ) : null}
              </li>
            );
          })}
        </ul>
        {appointments && appointments.length === 0 ? (
          <p id="appointments-empty" className="hint">
            No appointments on this day.
          </p>
        ) : null}
      </section>
    </div>
  );
}
