/**
 * Secure messages outside visits, the parts the patient's page and the staff app share: the list of threads
 * with unread counts, and one thread (its messages as plain text, read receipts, a compose box). Both talk to
 * the gateway under `base` (`/api/messages` for staff, `/api/patient/messages` for the patient).
 */
import { useEffect, useState, type FormEvent } from 'react';
import { api, ApiError } from '../api/client';
import { pushChangesThread, type MessagesPush } from './live';
import './messages.css';
import { Note } from '../ui/note';
import { whileCurrent } from '../api/while-current';
import type {
  MessageThreadListView,
  MessageThreadReadView,
  MessageThreadView as ThreadSummary,
  SecureMessageView as ThreadMessage,
} from '../../../services/gateway/src/message-thread-view';

/** A thread as the gateway lists it (no text), and one message (services/gateway/src/message-thread-view.ts). */
export type { ThreadSummary, ThreadMessage };

const errorText = (e: unknown) =>
  e instanceof ApiError ? e.message : 'Something went wrong. Please try again.';

/** The longest message, in characters (the service refuses longer ones). */
export const MAX_LENGTH = 4000;

/** The threads under `base`, newest first, with a button per thread. */
export function ThreadList(props: {
  readonly base: string;
  readonly label: (t: ThreadSummary) => string;
  readonly onOpen: (id: string) => void;
  /** Bumped to read the list again. */
  readonly version?: number;
  /** The newest live push (a new message, a receipt…): the list is read again. */
  readonly push?: MessagesPush | undefined;
}) {
  const { base, label, onOpen, version, push } = props;
  const [threads, setThreads] = useState<readonly ThreadSummary[] | undefined>();
  const [error, setError] = useState('');
  useEffect(
    () =>
      whileCurrent(
        api<MessageThreadListView>('GET', `${base}/threads`),
        (r) => {
          setThreads(r.threads);
          setError('');
        },
        (e: unknown) => setError(errorText(e)),
      ),
    [base, version, push],
  );
  if (error) {
    return (
      <p className="form-error" role="alert">
        {error}
      </p>
    );
  }
  if (!threads) return <p className="hint">Loading…</p>;
  if (threads.length === 0) return <p className="hint">No messages yet.</p>;
  return (
    <ul className="message-threads">
      {threads.map((t) => (
        <li key={t.id}>
          <button type="button" className="button button-quiet" onClick={() => onOpen(t.id)}>
            {label(t)}
          </button>{' '}
          {t.unreadCount > 0 ? (
            <span className="badge" aria-label={`${t.unreadCount} unread`}>
              {t.unreadCount} new
            </span>
          ) : null}
          {t.open ? null : <span className="hint"> (closed)</span>}
        </li>
      ))}
    </ul>
  );
}

/**
 * One thread: its messages (text rendered as text, never as HTML), who wrote each, whether the other side has
 * read yours; marks the other side's messages read once shown; a box to answer while it is open.
 */
export function ThreadView(props: {
  readonly base: string;
  readonly threadId: string;
  /** True on the patient's page: "you" are the patient. */
  readonly asPatient: boolean;
  readonly onBack: () => void;
  /** The care team may close a thread. */
  readonly canClose?: boolean;
  /** The newest live push: the thread is read again when it changed it. */
  readonly push?: MessagesPush | undefined;
}) {
  const { base, threadId, asPatient, onBack, canClose, push } = props;
  const [messages, setMessages] = useState<readonly ThreadMessage[]>([]);
  const [open, setOpen] = useState(true);
  const [text, setText] = useState('');
  const [status, setStatus] = useState('Loading…');
  const [error, setError] = useState('');
  const [version, setVersion] = useState(0);
  /** The version whose read answered (a read of a newer one is on its way until it does). */
  const [answered, setAnswered] = useState(-1);
  const reload = () => setVersion((v) => v + 1);
  useEffect(() => {
    let live = true;
    api<MessageThreadReadView>('GET', `${base}/threads/${threadId}`)
      .then(async (r) => {
        if (!live) return;
        setAnswered(version);
        setMessages(r.messages);
        setOpen(r.thread.open);
        setStatus('');
        if (r.thread.unreadCount > 0) await api('POST', `${base}/threads/${threadId}/read`, {});
      })
      .catch((e: unknown) => {
        if (live) {
          setAnswered(version);
          setStatus('');
          setError(errorText(e));
        }
      });
    return () => {
      live = false;
    };
  }, [base, threadId, version]);
  const mine = (m: ThreadMessage) => m.fromPatient === asPatient;
  const unreadOfMine = messages.filter((m) => mine(m) && !m.read).length;
  const shown = {
    threadId,
    messageCount: messages.length,
    unreadOfMine,
    open,
    reading: answered !== version,
  };
  // A new push that changed what is shown reads the thread again (state adjusted while rendering, once per push).
  const [seenPush, setSeenPush] = useState(push);
  if (push !== seenPush) {
    setSeenPush(push);
    if (pushChangesThread(push, shown)) setVersion((v) => v + 1);
  }
  const send = (event: FormEvent) => {
    event.preventDefault();
    if (text.trim() === '') return;
    setError('');
    api('POST', `${base}/threads/${threadId}/messages`, { text })
      .then(() => (setText(''), reload()))
      .catch((e: unknown) => setError(errorText(e)));
  };
  const close = () => {
    api('POST', `${base}/threads/${threadId}/close`, {})
      .then(reload)
      .catch((e: unknown) => setError(errorText(e)));
  };
  return (
    <div className="message-thread" data-thread={threadId}>
      <button type="button" className="button button-quiet" onClick={onBack}>
        ← All messages
      </button>
      <p className="hint" role="status">
        {status}
      </p>
      <ol className="messages" aria-label="Messages">
        {messages.map((m) => (
          <li key={m.id} className={mine(m) ? 'message mine' : 'message theirs'}>
            <span className="message-author">
              {mine(m) ? 'You' : asPatient ? 'Your care team' : 'Patient'}
            </span>{' '}
            <time className="hint">
              {m.at ? new Date(m.at).toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' }) : ''}
            </time>
            <p className="message-text">{m.text}</p>
            {mine(m) ? <span className="hint message-receipt">{m.read ? 'Read' : 'Sent'}</span> : null}
          </li>
        ))}
      </ol>
      <Note kind="error">{error}</Note>
      {open ? (
        <form onSubmit={send} className="message-compose">
          <label>
            Your message
            <textarea
              name="text"
              className="text-field"
              value={text}
              maxLength={MAX_LENGTH}
              rows={3}
              onChange={(e) => setText(e.target.value)}
            />
          </label>
          <div className="actions">
            <button type="submit" className="button button-primary" disabled={text.trim() === ''}>
              Send
            </button>
            {canClose ? (
              <button type="button" className="button button-quiet" onClick={close}>
                Close thread
              </button>
            ) : null}
          </div>
        </form>
      ) : (
        <p className="hint">This conversation is closed.</p>
      )}
    </div>
  );
}
