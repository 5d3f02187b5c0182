/**
 * The host's guest and host-rights controls for one visit, self-contained for the staff console: invite a
 * clinician from the directory as a guest (second clinician, interpreter or family role), and share or hand over
 * host rights with a clinician admitted to the visit. The server decides who is a host; this only asks.
 */
import { useEffect, useState, type FormEvent } from 'react';
import { ApiError, api } from '../api/client';

/** A participant as `GET /api/visits/:id` lists them. */
export interface GuestControlsParticipant {
  readonly id: string;
  readonly kind: string;
  readonly state: string;
  readonly host?: boolean;
}

/** Props of {@link GuestControls}. */
export interface GuestControlsProps {
  readonly visitId: string;
  readonly participants: readonly GuestControlsParticipant[];
  /** Called after a change, so the page reads the visit again. */
  readonly onChanged?: () => void;
}

interface Clinician {
  readonly id: string;
  readonly displayName: string;
}

const ROLES = [
  { value: 'clinician', label: 'Second clinician' },
  { value: 'interpreter', label: 'Interpreter' },
  { value: 'family', label: 'Family member' },
] as const;

/** Invite a guest; share or hand over host rights. */
export function GuestControls({ visitId, participants, onChanged }: GuestControlsProps) {
  const [clinicians, setClinicians] = useState<readonly Clinician[]>([]);
  const [userId, setUserId] = useState('');
  const [role, setRole] = useState<string>('clinician');
  const [message, setMessage] = useState('');

  useEffect(() => {
    let live = true;
    api<{ clinicians: Clinician[] }>('GET', '/api/clinicians')
      .then((r) => {
        if (live) setClinicians(r.clinicians);
      })
      .catch(() => undefined);
    return () => {
      live = false;
    };
  }, []);

  const run = async (path: string, body: unknown, done: string) => {
    try {
      await api('POST', `/api/visits/${encodeURIComponent(visitId)}/${path}`, body);
      setMessage(done);
      onChanged?.();
    } catch (err) {
      setMessage(err instanceof ApiError ? err.message : 'Something went wrong. Please try again.');
    }
  };

  const invite = (e: FormEvent) => {
    e.preventDefault();
    if (userId === '') {
      setMessage('Choose whom to invite.');
      return;
    }
    const who = clinicians.find((c) => c.id === userId)?.displayName ?? 'The guest';
    void run('guests', { userId, role }, `${who} is invited: they wait in the lobby until you admit them.`);
  };

  const others = participants.filter((p) => p.kind === 'clinician' && p.state === 'admitted' && !p.host);

  return (
    <section className="guest-controls" aria-labelledby={`guests-${visitId}`}>
      <h3 id={`guests-${visitId}`}>Guests and host</h3>
      <form onSubmit={invite}>
        <label>
          Invite
          <select value={userId} onChange={(e) => setUserId(e.target.value)}>
            <option value="">Choose a colleague…</option>
            {clinicians.map((c) => (
              <option key={c.id} value={c.id}>
                {c.displayName}
              </option>
            ))}
          </select>
        </label>
        <label>
          As
          <select value={role} onChange={(e) => setRole(e.target.value)}>
            {ROLES.map((r) => (
              <option key={r.value} value={r.value}>
                {r.label}
              </option>
            ))}
          </select>
        </label>
        <button type="submit">Invite guest</button>
      </form>
      {others.length > 0 ? (
        <ul aria-label="Clinicians in the visit">
          {others.map((p, i) => (
            <li key={p.id}>
              <span>Clinician {others.length > 1 ? i + 1 : ''}</span>
              <button
                type="button"
                onClick={() =>
                  void run('host', { participantId: p.id, mode: 'share' }, 'Host rights shared.')
                }
              >
                Share host
              </button>
              <button
                type="button"
                onClick={() =>
                  void run(
                    'host',
                    { participantId: p.id, mode: 'handover' },
                    'Host rights handed over: you are a guest now.',
                  )
                }
              >
                Hand over host
              </button>
            </li>
          ))}
        </ul>
      ) : null}
      <p role="status">{message}</p>
    </section>
  );
}
