/**
 * What tells a clinician that a patient is waiting, and what they can tell the waiting room:
 *
 * - {@link LobbyAlerts}: the tab title says "(N) waiting"; when the count goes up, a browser notification (only
 *   once the clinician allowed it, asked on a click, never on load) and, if turned on, a short tone (Web Audio:
 *   no file to fetch). The notification names nobody: "A patient is waiting" (a name is PHI on a lock screen).
 * - {@link LobbyNoteForm}: a canned "running late" (5, 10, 15 minutes) or a typed note for one visit's waiting room,
 *   with whether to show the patient their place in the queue; or clearing it.
 */
import { useEffect, useId, useRef, useState } from 'react';
import { ApiError, api } from '../api/client';
import './lobby.css';
import { Note } from '../ui/note';

const SOUND_KEY = 'haven.lobby.sound';

/** The title with the waiting count: "(2) waiting · Haven" (pure). */
export function titleWith(base: string, waiting: number): string {
  return waiting > 0 ? `(${waiting}) waiting · ${base}` : base;
}

function beep(): void {
  const Ctx = window.AudioContext as typeof AudioContext | undefined;
  if (!Ctx) return;
  const ctx = new Ctx();
  const osc = ctx.createOscillator();
  const gain = ctx.createGain();
  osc.frequency.value = 880;
  gain.gain.value = 0.1;
  osc.connect(gain).connect(ctx.destination);
  osc.start();
  osc.stop(ctx.currentTime + 0.25);
  osc.onended = () => void ctx.close();
}

/** The alerts of the waiting room: title, notification, sound, and their switches. */
export function LobbyAlerts({ waiting }: { waiting: number }) {
  const base = useRef(document.title.replace(/^\(\d+\) waiting · /, ''));
  const before = useRef(waiting);
  const supported = typeof window.Notification === 'function';
  const [permission, setPermission] = useState<string>(supported ? Notification.permission : 'unsupported');
  const [sound, setSound] = useState(() => localStorage.getItem(SOUND_KEY) === 'on');
  const soundId = useId();

  useEffect(() => {
    document.title = titleWith(base.current, waiting);
    if (waiting > before.current) {
      if (supported && Notification.permission === 'granted') {
        const n = new Notification('A patient is waiting', {
          body: 'Someone arrived in your waiting room.',
          tag: 'haven-lobby',
        });
        n.onclick = () => window.focus();
      }
      if (sound) beep();
    }
    before.current = waiting;
  }, [waiting, sound, supported]);
  useEffect(() => {
    const original = base.current;
    return () => {
      document.title = original;
    };
  }, []);

  return (
    <div className="lobby-alerts">
      {permission === 'default' ? (
        <button
          type="button"
          className="button"
          id="lobby-notify"
          onClick={() => void Notification.requestPermission().then(setPermission)}
        >
          Notify me when a patient arrives
        </button>
      ) : null}
      {permission === 'granted' ? <span className="hint">Desktop notifications are on.</span> : null}
      <label htmlFor={soundId} className="lobby-sound">
        <input
          id={soundId}
          type="checkbox"
          checked={sound}
          onChange={(e) => {
            setSound(e.target.checked);
            localStorage.setItem(SOUND_KEY, e.target.checked ? 'on' : 'off');
          }}
        />{' '}
        Play a sound
      </label>
    </div>
  );
}

type Note =
  | { readonly kind: 'none' }
  | { readonly kind: 'running_late'; readonly delayMinutes: number }
  | { readonly kind: 'typed'; readonly text: string; readonly delayMinutes?: number };

/** The note form of one visit's waiting room. `post` is the gateway call (tests hand in a fake). */
export function LobbyNoteForm({
  visitId,
  post = (id, body) => api('POST', `/api/visits/${encodeURIComponent(id)}/lobby-notice`, body),
}: {
  visitId: string;
  post?: (visitId: string, body: Record<string, unknown>) => Promise<unknown>;
}) {
  const [text, setText] = useState('');
  const [showPosition, setShowPosition] = useState(false);
  const [status, setStatus] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const textId = useId();
  const positionId = useId();

  const send = async (note: Note) => {
    setError(null);
    try {
      await post(visitId, { ...note, showPosition });
      setStatus(
        note.kind === 'none'
          ? 'The waiting room note was cleared.'
          : note.kind === 'running_late'
            ? `The patient sees that you are running ${note.delayMinutes} minutes late.`
            : 'The patient sees your note.',
      );
      if (note.kind === 'typed') setText('');
    } catch (err) {
      setError(
        err instanceof ApiError && err.fieldViolations.length > 0
          ? err.fieldViolations.map((v) => v.description).join('; ')
          : err instanceof Error
            ? err.message
            : 'The note was not sent.',
      );
    }
  };

  return (
    <div className="lobby-note" aria-label="Note to the waiting room" role="group">
      <p className="lobby-note-title">Tell the waiting room</p>
      <div className="actions">
        {[5, 10, 15].map((m) => (
          <button
            key={m}
            type="button"
            className="button"
            onClick={() => void send({ kind: 'running_late', delayMinutes: m })}
          >
            {`Running ${m} min late`}
          </button>
        ))}
        <button type="button" className="button" onClick={() => void send({ kind: 'none' })}>
          Clear note
        </button>
      </div>
      <form
        className="lobby-note-form"
        onSubmit={(e) => {
          e.preventDefault();
          if (text.trim() !== '') void send({ kind: 'typed', text });
        }}
      >
        <label htmlFor={textId}>Your note</label>
        <textarea
          id={textId}
          className="text-field"
          rows={2}
          maxLength={500}
          value={text}
          onChange={(e) => setText(e.target.value)}
        />
        <button type="submit" className="button" disabled={text.trim() === ''}>
          Send note
        </button>
      </form>
      <label htmlFor={positionId}>
        <input
          id={positionId}
          type="checkbox"
          checked={showPosition}
          onChange={(e) => setShowPosition(e.target.checked)}
        />{' '}
        Show the patient their place in the queue
      </label>
      <p className="hint" role="status">
        {status}
      </p>
      <Note kind="error">{error}</Note>
    </div>
  );
}
