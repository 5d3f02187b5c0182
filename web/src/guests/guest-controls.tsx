/**
 * The host's guest and host-rights controls for one visit, self-contained for the staff console: invite a
 * clinician from the directory as a guest (second clinician, interpreter or family role), invite someone without
 * an account (an interpreter, a family member) by a one-time link with its own passcode (shown once, to copy or
 * read out), revoke an invited guest (they are removed at once), and share or hand over host rights with a
 * clinician admitted to the visit. The server decides who is a host; this only asks.
 */
import { useEffect, useState, type FormEvent } from 'react';
import { ApiError, api } from '../api/client';
import { whileCurrent } from '../api/while-current';
import { Options } from '../ui/options';
import type {
  Clinician,
  ClinicianListView,
  GuestLinkView,
  InvitedGuest,
  VisitReadView,
} from '../staff/types';

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

const LINK_ROLES = [
  { value: 'interpreter', label: 'Interpreter' },
  { value: 'family', label: 'Family member' },
] as const;

const ROLE_LABEL: Readonly<Record<string, string>> = {
  clinician: 'Second clinician',
  interpreter: 'Interpreter',
  family: 'Family member',
};

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
  const [linkRole, setLinkRole] = useState<string>('interpreter');
  const [issued, setIssued] = useState<GuestLinkView | null>(null);
  const [guests, setGuests] = useState<readonly InvitedGuest[]>([]);
  const [reads, setReads] = useState(0);
  const people = participants.map((p) => `${p.id}:${p.state}`).join(',');

  useEffect(
    () => whileCurrent(api<ClinicianListView>('GET', '/api/clinicians'), (r) => setClinicians(r.clinicians)),
    [],
  );

  useEffect(
    () =>
      whileCurrent(api<VisitReadView>('GET', `/api/visits/${encodeURIComponent(visitId)}`), (r) =>
        setGuests(r.visit.guests),
      ),
    [visitId, people, reads],
  );

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

  const inviteByLink = async (e: FormEvent) => {
    e.preventDefault();
    try {
      const link = await api<GuestLinkView>(
        'POST',
        `/api/visits/${encodeURIComponent(visitId)}/guest-links`,
        {
          role: linkRole,
        },
      );
      setIssued(link);
      setMessage('');
      setReads((n) => n + 1);
      onChanged?.();
    } catch (err) {
      setMessage(err instanceof ApiError ? err.message : 'Something went wrong. Please try again.');
    }
  };

  const revoke = async (g: InvitedGuest) => {
    const what = ROLE_LABEL[g.role] ?? 'guest';
    await run(
      `guests/${encodeURIComponent(g.id)}/revoke`,
      {},
      `The ${what.toLowerCase()} is no longer invited: their link stopped working and they were removed.`,
    );
    if (issued?.guestId === g.id) setIssued(null);
    setReads((n) => n + 1);
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
            <Options of={clinicians.map((c) => [c.id, c.displayName])} />
          </select>
        </label>
        <label>
          As
          <select value={role} onChange={(e) => setRole(e.target.value)}>
            <Options of={ROLES.map((r) => [r.value, r.label])} />
          </select>
        </label>
        <button type="submit">Invite guest</button>
      </form>
      <form onSubmit={(e) => void inviteByLink(e)} aria-label="Invite someone without an account">
        <label>
          Invite by link
          <select value={linkRole} onChange={(e) => setLinkRole(e.target.value)}>
            <Options of={LINK_ROLES.map((r) => [r.value, r.label])} />
          </select>
        </label>
        <button type="submit">Create guest link</button>
      </form>
      {issued ? (
        <div className="guest-link" role="group" aria-label="The new guest link">
          <p>
            Give this link and its passcode to the {(ROLE_LABEL[issued.role] ?? 'guest').toLowerCase()}, by
            two different ways if you can. They are shown only now. The link works on one device until the
            visit ends.
          </p>
          <label>
            Link
            <input readOnly value={issued.url} onFocus={(e) => e.currentTarget.select()} />
          </label>
          <label>
            Passcode
            <input readOnly value={issued.passcode} onFocus={(e) => e.currentTarget.select()} />
          </label>
          <button
            type="button"
            onClick={() => void navigator.clipboard?.writeText(`${issued.url}\nPasscode: ${issued.passcode}`)}
          >
            Copy link and passcode
          </button>
        </div>
      ) : null}
      {guests.length > 0 ? (
        <ul aria-label="Invited guests">
          {guests.map((g, i) => (
            <li key={g.id}>
              <span>
                {ROLE_LABEL[g.role] ?? 'Guest'} {g.link ? '(guest link)' : '(staff)'}
                {guests.length > 1 ? ` ${i + 1}` : ''}
              </span>
              <button
                type="button"
                aria-label={`Revoke ${ROLE_LABEL[g.role] ?? 'guest'} ${i + 1}`}
                onClick={() => void revoke(g)}
              >
                Revoke
              </button>
            </li>
          ))}
        </ul>
      ) : null}
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
