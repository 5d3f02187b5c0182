/**
 * The patient's secure messages (`/messages#<link token>`): signs in with the link from the clinic and the
 * passcode (POST /api/messages/join, a 30-minute session that opens no visit), then lists the conversations with
 * the care team and opens one; the patient can write to their clinician or ask the front desk.
 */
import { useEffect, useState, type FormEvent } from 'react';
import { api, ApiError } from '../api/client';
import { useMessagesPush } from './live';
import { ThreadList, ThreadView, type ThreadSummary } from './thread';
import type {
  MessageThreadAnswerView,
  MessagesJoinedView,
} from '../../../services/gateway/src/message-thread-view';
import { Note } from '../ui/note';

const BASE = '/api/patient/messages';

const topicLabel = (t: ThreadSummary) =>
  t.topic === 'care' ? 'Conversation with your clinician' : 'Conversation with the front desk';

/** The page: sign-in when there is no session, then the messages. */
export function PatientMessages({ token }: { readonly token: string }) {
  const [signedIn, setSignedIn] = useState<boolean | undefined>();
  useEffect(() => {
    api('GET', `${BASE}/threads`).then(
      () => setSignedIn(true),
      () => setSignedIn(false),
    );
  }, []);
  if (signedIn === undefined) return <p className="hint">Loading…</p>;
  return (
    <section className="card" aria-labelledby="messages-title">
      <h1 id="messages-title">Your messages</h1>
      {signedIn ? <Messages /> : <SignIn token={token} onDone={() => setSignedIn(true)} />}
    </section>
  );
}

function SignIn({ token, onDone }: { readonly token: string; readonly onDone: () => void }) {
  const [passcode, setPasscode] = useState('');
  const [error, setError] = useState('');
  const submit = (event: FormEvent) => {
    event.preventDefault();
    setError('');
    api<MessagesJoinedView>('POST', '/api/messages/join', { token, passcode }).then(onDone, (e: unknown) =>
      setError(e instanceof ApiError ? e.message : 'Please try again.'),
    );
  };
  if (token === '') {
    return (
      <p className="hint">Open the link from the clinic’s e-mail or text message to read your messages.</p>
    );
  }
  return (
    <form onSubmit={submit} id="messages-sign-in">
      <p className="hint">Enter the passcode the clinic gave you for your visit.</p>
      <label>
        Passcode
        <input
          name="passcode"
          autoComplete="one-time-code"
          value={passcode}
          onChange={(e) => setPasscode(e.target.value)}
        />
      </label>
      <Note kind="error">{error}</Note>
      <button type="submit" className="button button-primary" disabled={passcode.trim() === ''}>
        Open my messages
      </button>
    </form>
  );
}

function Messages() {
  // New messages and read receipts show at once (the live channel says which thread changed).
  const push = useMessagesPush('patient');
  const [current, setCurrent] = useState<string | undefined>();
  const [version, setVersion] = useState(0);
  const [error, setError] = useState('');
  const start = (topic: 'care' | 'scheduling') => {
    setError('');
    api<MessageThreadAnswerView>('POST', `${BASE}/threads`, { topic }).then(
      (r) => setCurrent(r.thread.id),
      (e: unknown) => setError(e instanceof ApiError ? e.message : 'Please try again.'),
    );
  };
  if (current) {
    return (
      <ThreadView
        base={BASE}
        threadId={current}
        asPatient
        push={push}
        onBack={() => (setCurrent(undefined), setVersion((v) => v + 1))}
      />
    );
  }
  return (
    <>
      <ThreadList base={BASE} label={topicLabel} onOpen={setCurrent} version={version} push={push} />
      <p>
        <button type="button" className="button button-primary" onClick={() => start('care')}>
          Write to my clinician
        </button>{' '}
        <button type="button" className="button button-quiet" onClick={() => start('scheduling')}>
          Ask the front desk about an appointment
        </button>
      </p>
      <Note kind="error">{error}</Note>
      <p className="hint">Messages are kept private and secure. In an emergency, call the clinic or 911.</p>
    </>
  );
}
