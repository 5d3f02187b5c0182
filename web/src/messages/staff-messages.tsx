/**
 * The care team's secure messages in the staff app: a clinician sees their care threads, the front desk the
 * scheduling threads, each with its unread count; opening one shows it (a PhiAccessed in scheduling), marks it
 * read, and lets them answer or close it. A clinician can start a follow-up with one of their patients, the front
 * desk a scheduling conversation with any patient. New messages and receipts show at once (the live push).
 */
import { useEffect, useId, useState, type FormEvent } from 'react';
import { api, ApiError } from '../api/client';
import { useMessagesPush } from './live';
import { ThreadList, ThreadView, type ThreadSummary } from './thread';
import type { MessageThreadAnswerView } from '../../../services/gateway/src/message-thread-view';
import type { PatientListView } from '../staff/types';
import { Note } from '../ui/note';
import { Options } from '../ui/options';

const BASE = '/api/messages';

/** The messages card; `role` picks the threads' topic. */
export function StaffMessages({ role }: { readonly role: 'clinician' | 'front_desk' }) {
  // New messages and read receipts show at once (the live channel says which thread changed).
  const push = useMessagesPush();
  const [current, setCurrent] = useState<string | undefined>();
  const [version, setVersion] = useState(0);
  const [names, setNames] = useState<Readonly<Record<string, string>>>({});
  useEffect(() => {
    api<PatientListView>('GET', '/api/patients').then(
      (r) => setNames(Object.fromEntries(r.patients.map((p) => [p.id, p.name]))),
      () => setNames({}),
    );
  }, []);
  const label = (t: ThreadSummary) =>
    `${names[t.patientId] ?? 'A patient'}${t.messageCount > 0 ? ` · ${t.messageCount} messages` : ''}`;
  return (
    <section id="messages-card" className="card" aria-labelledby="staff-messages-title">
      <h2 id="staff-messages-title">
        {role === 'clinician' ? 'Messages from your patients' : 'Scheduling messages'}
      </h2>
      {current ? (
        <ThreadView
          base={BASE}
          threadId={current}
          asPatient={false}
          canClose
          push={push}
          onBack={() => (setCurrent(undefined), setVersion((v) => v + 1))}
        />
      ) : (
        <>
          <ThreadList base={BASE} label={label} onOpen={setCurrent} version={version} push={push} />
          <NewThread
            names={names}
            topic={role === 'clinician' ? 'care' : 'scheduling'}
            onOpened={setCurrent}
          />
        </>
      )}
    </section>
  );
}

/** Starts a thread with a patient: a clinician's care thread, or the front desk's scheduling one. */
function NewThread(props: {
  readonly names: Readonly<Record<string, string>>;
  readonly topic: 'care' | 'scheduling';
  readonly onOpened: (id: string) => void;
}) {
  const { names, topic, onOpened } = props;
  const [patientId, setPatientId] = useState('');
  const [error, setError] = useState('');
  const fieldId = useId();
  const submit = (event: FormEvent) => {
    event.preventDefault();
    setError('');
    api<MessageThreadAnswerView>('POST', `${BASE}/threads`, { topic, patientId }).then(
      (r) => onOpened(r.thread.id),
      (e: unknown) => setError(e instanceof ApiError ? e.message : 'Please try again.'),
    );
  };
  const patients = Object.entries(names);
  if (patients.length === 0) return null;
  return (
    <form onSubmit={submit} className="inline-form">
      <div className="field">
        <label htmlFor={fieldId}>Write to a patient</label>
        <select id={fieldId} name="patient" value={patientId} onChange={(e) => setPatientId(e.target.value)}>
          <option value="">Choose…</option>
          <Options of={patients} />
        </select>
      </div>
      <button type="submit" className="button button-primary" disabled={patientId === ''}>
        New message
      </button>
      <Note kind="error">{error}</Note>
    </form>
  );
}
