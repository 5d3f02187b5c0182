/**
 * The clinician's identity check for one visit: show the patient's date of birth (a PHI read for treatment that
 * scheduling records as PhiAccessed) for a verbal check, then "Identity confirmed" (IdentityConfirmed: who, when
 * and how, never the date of birth). Afterwards the confirmation is shown instead.
 */
import { useEffect, useState } from 'react';
import { ApiError, api } from '../api/client';
import { Note } from '../ui/note';
import { whileCurrent } from '../api/while-current';
import type {
  IdentityCheckView,
  IdentityConfirmation,
  IdentityConfirmedView,
  VisitReadView,
} from '../staff/types';

/** Props of {@link IdentityCheck}. */
export interface IdentityCheckProps {
  readonly visitId: string;
  /** The signed-in clinician's user id, to say "you". */
  readonly me?: string;
}

function timeOf(iso: string | null): string {
  if (!iso) return '';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '' : d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

/** "Show date of birth" → the date → "Identity confirmed"; or the confirmation once recorded. */
export function IdentityCheck({ visitId, me }: IdentityCheckProps) {
  const [confirmed, setConfirmed] = useState<IdentityConfirmation | null>(null);
  const [dateOfBirth, setDateOfBirth] = useState<string | null>(null);
  const [message, setMessage] = useState('');
  const path = `/api/visits/${encodeURIComponent(visitId)}`;

  useEffect(
    () => whileCurrent(api<VisitReadView>('GET', path), (r) => setConfirmed(r.visit.identity)),
    [path],
  );

  const fail = (err: unknown) =>
    setMessage(err instanceof ApiError ? err.message : 'Something went wrong. Please try again.');

  const show = async () => {
    try {
      const r = await api<IdentityCheckView>('GET', `${path}/identity-check`);
      setDateOfBirth(r.dateOfBirth);
      setMessage('');
    } catch (err) {
      fail(err);
    }
  };

  const confirm = async () => {
    try {
      const r = await api<IdentityConfirmedView>('POST', `${path}/identity`, {});
      setConfirmed(r.identity);
      setDateOfBirth(null);
      setMessage('');
    } catch (err) {
      fail(err);
    }
  };

  const titleId = `identity-${visitId}`;
  return (
    <section className="identity-check" aria-labelledby={titleId}>
      <h3 id={titleId}>Identity check</h3>
      {confirmed ? (
        <p id="identity-confirmed" role="status">
          Identity confirmed by {confirmed.confirmedBy === me ? 'you' : 'a clinician'}
          {confirmed.confirmTime ? ` at ${timeOf(confirmed.confirmTime)}` : ''} (date of birth).
        </p>
      ) : dateOfBirth === null ? (
        <button type="button" id="identity-show" className="button button-quiet" onClick={() => void show()}>
          Show date of birth
        </button>
      ) : (
        <>
          <p>
            Ask the patient to say their date of birth. On record:{' '}
            <strong id="identity-dob">{dateOfBirth}</strong>
          </p>
          <button
            type="button"
            id="identity-confirm"
            className="button button-primary"
            onClick={() => void confirm()}
          >
            Identity confirmed
          </button>
        </>
      )}
      <Note kind="error">{message}</Note>
    </section>
  );
}
