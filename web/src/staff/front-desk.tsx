/**
 * The front desk (and admins): register a patient, book an appointment with a clinician (once, or every N weeks
 * as a series), the day's appointments with their patient link (shown once) and cancellation (of one, or of
 * the rest of a series), and under each appointment the messages to the patient that need the desk (not sent
 * because they opted out or have no address or number, failed for good, waiting for the patient link).
 */
import { useCallback, useEffect, useRef, useState, type FormEvent } from 'react';
import { ApiError, api } from '../api/client';
import { DeliveryNotices, useDeliveries } from './deliveries';
import { Field, FormMessages, formValue, useForm } from './form';
import { freeSlots, type Busy } from './free-slots';
import { guarded, useSession } from './session';
import { dateTimeOf, isoFromLocalInput, localDay, localInput, timeOf, timeZone } from './time';
import type {
  Appointment,
  AppointmentListView,
  AppointmentState,
  Booking,
  Clinician,
  ClinicianListView,
  Patient,
  PatientCreatedView,
  PatientLink,
  PatientListView,
  WaitingListView,
  WaitingView,
} from './types';
import { Note } from '../ui/note';
import { Options } from '../ui/options';

const STATE_LABELS: Readonly<Record<AppointmentState, string>> = {
  scheduled: 'Scheduled',
  in_progress: 'In progress',
  completed: 'Completed',
  cancelled: 'Cancelled',
  no_show: 'Missed',
};

const PATIENT_LABELS = { name: 'Full name', dateOfBirth: 'Date of birth', email: 'E-mail', phone: 'Phone' };
const BOOK_LABELS = {
  clinicianId: 'Clinician',
  patientId: 'Patient',
  startTime: 'Start',
  endTime: 'End',
  repeatEveryWeeks: 'Repeat',
  repeatCount: 'Number of visits',
  repeatUntil: 'Last visit on or before',
};

/** The booking form's repeat choices: weeks between visits ('' for a single appointment). */
const REPEATS: ReadonlyArray<readonly [string, string]> = [
  ['1', 'Every week'],
  ['2', 'Every 2 weeks'],
  ['3', 'Every 3 weeks'],
  ['4', 'Every 4 weeks'],
];

/** The recurring part of a booking from the form: every N weeks, a number of visits or a last day. */
function repeatFields(data: FormData): Record<string, string | number> {
  const every = formValue(data, 'repeatEveryWeeks');
  if (every === '') return {};
  const until = formValue(data, 'repeatUntil');
  if (until !== '') {
    // The end of that day, in this browser's (the clinic's) time zone.
    const [y = 1970, m = 1, d = 1] = until.split('-').map(Number);
    return { repeatEveryWeeks: Number(every), repeatUntil: new Date(y, m - 1, d, 23, 59, 59).toISOString() };
  }
  return { repeatEveryWeeks: Number(every), repeatCount: formValue(data, 'repeatCount') };
}

/** The day list's filter by clinician, as a query suffix. */
const whoseQuery = (clinicianId: string) =>
  clinicianId ? `&clinicianId=${encodeURIComponent(clinicianId)}` : '';

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
        const r = await api<PatientCreatedView>('POST', '/api/patients', body);
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
      <Options of={options} />
    </select>
  );
}

/** The booking form's start and end fields: name, label and the slot's edge each edits. */
const SLOT_EDGES = [
  ['startTime', 'Start', 'start'],
  ['endTime', 'End', 'end'],
] as const;

function CopyField({
  id,
  label,
  value,
  copy,
  inputClass,
}: {
  id: string;
  label: string;
  value: string;
  copy: (id: string, value: string) => Promise<void>;
  inputClass?: string;
}) {
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <div className="copy-row">
        <input id={id} className={inputClass} type="text" readOnly value={value} />
        <button type="button" className="button button-quiet" onClick={() => void copy(id, value)}>
          Copy {label.toLowerCase()}
        </button>
      </div>
    </div>
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
      <CopyField id="link-url" label="Link" value={link.url} copy={copy} />
      <CopyField
        id="link-passcode"
        label="Passcode"
        value={link.passcode}
        copy={copy}
        inputClass="passcode"
      />
      <p id="link-window" className="hint">
        {link.validFrom && link.validUntil
          ? `The link works from ${dateTimeOf(link.validFrom)} until ${dateTimeOf(link.validUntil)}. Issuing a new link stops this one.`
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

/** How often the day view asks who is waiting. */
const WAITING_POLL_MS = 10_000;

/** Who is waiting in today's visits, read now and every {@link WAITING_POLL_MS} while the screen is open. */
function useWaiting(): ReadonlyMap<string, WaitingView> {
  const session = useSession();
  const [states, setStates] = useState<ReadonlyMap<string, WaitingView>>(new Map());
  useEffect(() => {
    let live = true;
    const read = () =>
      void guarded(session, () => api<WaitingListView>('GET', '/api/appointments/waiting')).then((r) => {
        if (live && r) setStates(new Map(r.visits.map((v) => [v.appointmentId, v])));
      });
    read();
    const timer = setInterval(read, WAITING_POLL_MS);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [session]);
  return states;
}

/** The lobby badge of an appointment's row: someone waiting, or in the visit. */
function WaitingBadge({ state }: { state: WaitingView | undefined }) {
  if (!state || state.status === 'ended') return null;
  if (state.waiting > 0)
    return (
      <span className="badge badge-waiting">
        {state.waiting === 1 ? 'Patient waiting' : `${String(state.waiting)} waiting`}
      </span>
    );
  if (state.inVisit > 0) return <span className="badge badge-in_progress">In the visit</span>;
  return null;
}

/** Appointments that hold their slot. */
const holdsSlot = (a: Appointment) => a.state === 'scheduled' || a.state === 'in_progress';

/** "14:30" of a time in ms. */
const clock = (ms: number) => timeOf(new Date(ms).toISOString());

/** Free times of the chosen clinician on the form's day, as buttons that fill the form. */
function FreeSlots({
  clinicianId,
  start,
  lengthMs,
  version,
  onPick,
}: {
  clinicianId: string;
  /** The form's start (datetime-local): its day is the one searched. */
  start: string;
  lengthMs: number;
  /** Changes when the day's appointments may have changed (a booking). */
  version: number;
  onPick: (slot: Busy) => void;
}) {
  const session = useSession();
  const day = start.slice(0, 10);
  const [slots, setSlots] = useState<readonly Busy[] | null>(null);
  useEffect(() => {
    let live = true;
    if (!clinicianId || !/^\d{4}-\d{2}-\d{2}$/.test(day) || !(lengthMs > 0)) return;
    void guarded(session, () =>
      api<AppointmentListView>(
        'GET',
        `/api/appointments?day=${day}&timeZone=${encodeURIComponent(timeZone())}${whoseQuery(clinicianId)}`,
      ),
    ).then((r) => {
      if (!live || !r) return;
      const busy = r.appointments
        .filter(holdsSlot)
        .map((a) => ({ start: Date.parse(a.startTime ?? ''), end: Date.parse(a.endTime ?? '') }))
        .filter((b) => Number.isFinite(b.start) && Number.isFinite(b.end));
      const [y = 1970, m = 1, d = 1] = day.split('-').map(Number);
      setSlots(freeSlots(busy, { day: new Date(y, m - 1, d), lengthMs, now: Date.now() }));
    });
    return () => {
      live = false;
    };
  }, [session, clinicianId, day, lengthMs, version]);
  if (!clinicianId || !slots) return null;
  return (
    <div id="free-slots" className="free-slots">
      {slots.length === 0 ? (
        <p className="hint">No free time left on this day.</p>
      ) : (
        <>
          <p className="hint">Free on this day (click to use):</p>
          <div className="row-actions">
            {slots.map((slot) => (
              <button
                key={slot.start}
                type="button"
                className="button button-quiet"
                aria-label={`Use ${clock(slot.start)} to ${clock(slot.end)}`}
                onClick={() => onPick(slot)}
              >
                {clock(slot.start)}
              </button>
            ))}
          </div>
        </>
      )}
    </div>
  );
}

/** Moves one appointment: a new start and end, in place of its row's actions. */
function Reschedule({ a, onDone, onClose }: { a: Appointment; onDone: () => void; onClose: () => void }) {
  const session = useSession();
  const form = useForm({});
  const length = Date.parse(a.endTime ?? '') - Date.parse(a.startTime ?? '');
  const [start, setStart] = useState(() => localInput(new Date(a.startTime ?? Date.now())));
  const [end, setEnd] = useState(() => localInput(new Date(a.endTime ?? Date.now())));
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    void form
      .run(event.currentTarget, async () => {
        try {
          await api('POST', `/api/appointments/${a.id}/reschedule`, {
            startTime: isoFromLocalInput(start),
            endTime: isoFromLocalInput(end),
          });
        } catch (err) {
          if (err instanceof ApiError && err.status === 401) return session.signedOut('revoked');
          throw err;
        }
      })
      .then((ok) => {
        if (ok) onDone();
      });
  };
  return (
    <form className="inline-form reschedule" noValidate onSubmit={submit} aria-busy={form.busy}>
      <FormMessages id={`reschedule-${a.id}`} state={form} />
      <div className="field">
        <label htmlFor={`move-${a.id}`}>Move to</label>
        <input
          id={`move-${a.id}`}
          type="datetime-local"
          required
          value={start}
          onChange={(e) => {
            const next = e.target.value;
            setStart(next);
            // The same length by default.
            const t = Date.parse(isoFromLocalInput(next));
            if (Number.isFinite(t) && length > 0) setEnd(localInput(new Date(t + length)));
          }}
        />
      </div>
      <div className="field">
        <label htmlFor={`until-${a.id}`}>Until</label>
        <input
          id={`until-${a.id}`}
          type="datetime-local"
          required
          value={end}
          onChange={(e) => setEnd(e.target.value)}
        />
      </div>
      <button type="submit" className="button button-primary" disabled={form.busy}>
        Move
      </button>
      <button
        type="button"
        className="button button-quiet"
        onClick={onClose}
        aria-label={`Keep the time ${timeOf(a.startTime)}`}
      >
        Keep
      </button>
    </form>
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
  const [repeat, setRepeat] = useState('');
  const [day, setDay] = useState(() => localDay(new Date()));
  const [appointments, setAppointments] = useState<readonly Appointment[] | null>(null);
  const [dayError, setDayError] = useState<string | null>(null);
  const [link, setLink] = useState<PatientLink | null>(null);
  const [whose, setWhose] = useState('');
  const [moving, setMoving] = useState<string | null>(null);
  const [version, setVersion] = useState(0);
  /** When the day list was read: an appointment that had started by then can be marked missed. */
  const [listedAt, setListedAt] = useState(0);
  const book = useForm(BOOK_LABELS);
  const waiting = useWaiting();
  const deliveries = useDeliveries((appointments ?? []).map((a) => a.id));

  useEffect(() => {
    void (async () => {
      const onError = (m: string) => book.setError(m);
      const [c, p] = await Promise.all([
        guarded(session, () => api<ClinicianListView>('GET', '/api/clinicians'), onError),
        guarded(session, () => api<PatientListView>('GET', '/api/patients?purpose=treatment'), onError),
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
          api<AppointmentListView>(
            'GET',
            `/api/appointments?day=${which}&timeZone=${encodeURIComponent(timeZone())}${whoseQuery(whose)}`,
          ),
        setDayError,
      );
      if (r) {
        setAppointments(r.appointments);
        setListedAt(Date.now());
      }
      setVersion((v) => v + 1);
    },
    [session, whose],
  );
  useEffect(() => {
    let live = true;
    void guarded(
      session,
      () =>
        api<AppointmentListView>(
          'GET',
          `/api/appointments?day=${day}&timeZone=${encodeURIComponent(timeZone())}${whoseQuery(whose)}`,
        ),
      (m) => live && setDayError(m),
    ).then((r) => {
      if (!live || !r) return;
      setAppointments(r.appointments);
      setListedAt(Date.now());
    });
    return () => {
      live = false;
    };
  }, [day, whose, session]);

  const submitBooking = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const el = event.currentTarget;
    const data = new FormData(el);
    void book.run(el, async () => {
      try {
        const r = await api<Booking>('POST', '/api/appointments', {
          clinicianId: formValue(data, 'clinicianId'),
          patientId: formValue(data, 'patientId'),
          startTime: isoFromLocalInput(formValue(data, 'startTime')),
          endTime: isoFromLocalInput(formValue(data, 'endTime')),
          ...repeatFields(data),
        });
        const start = new Date(r.appointment?.startTime ?? Date.now());
        const series = r.occurrences;
        const last = series.at(-1)?.startTime;
        book.setSuccess(
          series.length > 1 && last
            ? `${series.length} appointments booked, from ${dateTimeOf(start)} to ${dateTimeOf(last)}.`
            : `Appointment booked for ${dateTimeOf(start)}.`,
        );
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

  const noShow = async (a: Appointment) => {
    if (
      !window.confirm(
        `Mark the appointment at ${timeOf(a.startTime)} as missed? The patient link stops working.`,
      )
    )
      return;
    const done = await guarded(
      session,
      () => api('POST', `/api/appointments/${a.id}/no-show`, {}),
      setDayError,
    );
    if (done !== undefined) await loadDay(day);
  };

  const cancel = async (a: Appointment, following = false) => {
    const what = following
      ? `the appointment at ${timeOf(a.startTime)} and every later visit of its series`
      : `the appointment at ${timeOf(a.startTime)}`;
    if (!window.confirm(`Cancel ${what}? Their patient links stop working.`)) return;
    const done = await guarded(
      session,
      () =>
        api('POST', `/api/appointments/${a.id}/cancel`, {
          reason: 'other',
          ...(following ? { following } : {}),
        }),
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
            {SLOT_EDGES.map(([name, label, edge]) => (
              <Field
                key={name}
                name={name}
                label={label}
                state={book}
                type="datetime-local"
                required
                value={slot[edge]}
                onChange={(e) => {
                  const value = e.target.value;
                  setSlot((s) => ({ ...s, [edge]: value }));
                }}
              />
            ))}
            <Field name="repeatEveryWeeks" label="Repeat" state={book}>
              <select
                id="repeatEveryWeeks"
                name="repeatEveryWeeks"
                value={repeat}
                onChange={(e) => setRepeat(e.target.value)}
                aria-describedby="repeatEveryWeeks-error"
              >
                <option value="">Does not repeat</option>
                <Options of={REPEATS} />
              </select>
            </Field>
            {repeat !== '' ? (
              <>
                <Field
                  name="repeatCount"
                  label="Number of visits"
                  hint="(2 to 52)"
                  state={book}
                  type="number"
                  min={2}
                  max={52}
                  defaultValue={4}
                />
                <Field
                  name="repeatUntil"
                  label="Or last visit on or before"
                  hint="(optional)"
                  state={book}
                  type="date"
                />
              </>
            ) : null}
          </div>
          <FreeSlots
            clinicianId={clinicianId}
            start={slot.start}
            lengthMs={
              Date.parse(isoFromLocalInput(slot.end)) - Date.parse(isoFromLocalInput(slot.start)) ||
              30 * 60_000
            }
            version={version}
            onPick={(b) =>
              setSlot({ start: localInput(new Date(b.start)), end: localInput(new Date(b.end)) })
            }
          />
          <button type="submit" className="button button-primary" disabled={book.busy}>
            Book appointment
          </button>
        </form>
      </section>

      <section className="card" aria-labelledby="day-title">
        <h2 id="day-title">Appointments</h2>
        <div className="inline-form">
          <div className="field inline-field">
            <label htmlFor="whose">Whose day</label>
            <select id="whose" value={whose} onChange={(e) => setWhose(e.target.value)}>
              <option value="">Everyone</option>
              <Options of={clinicians.map((c) => [c.id, c.displayName])} />
            </select>
          </div>
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
        </div>
        <Note id="day-error" kind="error">
          {dayError}
        </Note>
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
                  <WaitingBadge state={waiting.get(a.id)} />
                  {a.seriesId ? (
                    <span className="badge badge-series">{`Visit ${String(a.occurrence ?? '')} of a series`}</span>
                  ) : null}
                </div>
                {moving === a.id ? (
                  <Reschedule
                    a={a}
                    onClose={() => setMoving(null)}
                    onDone={() => {
                      setMoving(null);
                      void loadDay(day);
                    }}
                  />
                ) : open ? (
                  <div className="row-actions">
                    <button
                      type="button"
                      className="button button-quiet"
                      aria-label={`Patient link for ${timeOf(a.startTime)}`}
                      onClick={() => void issueLink(a)}
                    >
                      Patient link
                    </button>
                    {a.state === 'scheduled' ? (
                      <button
                        type="button"
                        className="button button-quiet"
                        aria-label={`Reschedule appointment at ${timeOf(a.startTime)}`}
                        onClick={() => setMoving(a.id)}
                      >
                        Reschedule
                      </button>
                    ) : null}
                    {a.state === 'scheduled' && Date.parse(a.startTime ?? '') <= listedAt ? (
                      <button
                        type="button"
                        className="button button-quiet"
                        aria-label={`Mark the appointment at ${timeOf(a.startTime)} as missed`}
                        onClick={() => void noShow(a)}
                      >
                        Missed
                      </button>
                    ) : null}
                    <button
                      type="button"
                      className="button button-quiet"
                      aria-label={`Cancel appointment at ${timeOf(a.startTime)}`}
                      onClick={() => void cancel(a)}
                    >
                      Cancel
                    </button>
                    {a.seriesId && a.state === 'scheduled' ? (
                      <button
                        type="button"
                        className="button button-quiet"
                        aria-label={`Cancel the appointment at ${timeOf(a.startTime)} and the rest of its series`}
                        onClick={() => void cancel(a, true)}
                      >
                        Cancel rest of series
                      </button>
                    ) : null}
                  </div>
                ) : null}
                <DeliveryNotices deliveries={deliveries.byAppointment.get(a.id)} now={deliveries.readAt} />
              </li>
            );
          })}
        </ul>
        <Note id="appointments-empty" kind="hint" shown={appointments?.length === 0}>
          No appointments on this day.
        </Note>
      </section>
    </div>
  );
}
