/** Auditors (and admins): the tamper-evident ledger, its signed head, entries by patient, each with its proof. */
import { useCallback, useEffect, useRef, useState, type FormEvent } from 'react';
import { api } from '../api/client';
import { eventLabel } from '../recording/event-label';
import { guarded, useSession } from './session';
import type { LedgerEntry, LedgerHead, LedgerPage } from './types';
import { Note } from '../ui/note';

/** The audit ledger card. */
export function Audit() {
  const session = useSession();
  const [head, setHead] = useState<LedgerHead | null>(null);
  const [rows, setRows] = useState<readonly LedgerEntry[]>([]);
  const [next, setNext] = useState('');
  const [error, setError] = useState<string | null>(null);
  const patient = useRef<HTMLInputElement>(null);

  // Each list request gets a number; an answer that is not the latest request's is dropped, so a second press
  // (or "Show entries" during "More entries") never appends a page twice or mixes two filters.
  const latest = useRef(0);
  const [loadingMore, setLoadingMore] = useState(false);

  const load = useCallback(
    async (fresh: boolean, pageToken: string) => {
      if (!fresh && latest.current < 0) return; // a next page is already on its way
      const request = Math.abs(latest.current) + 1;
      latest.current = fresh ? request : -request;
      const current = () => Math.abs(latest.current) === request;
      setError(null);
      setLoadingMore(!fresh);
      // The filter as it was when the button was pressed.
      const query = new URLSearchParams();
      const who = patient.current?.value.trim() ?? '';
      if (who) query.set('patient', who);
      if (!fresh && pageToken) query.set('pageToken', pageToken);
      if (fresh) {
        setRows([]);
        setNext('');
        const h = await guarded(session, () => api<LedgerHead>('GET', '/api/audit/head'), setError);
        if (h && current()) setHead(h);
      }
      const r = await guarded(
        session,
        () => api<LedgerPage>('GET', `/api/audit/events?${query.toString()}`),
        setError,
      );
      if (!current()) return;
      latest.current = request;
      setLoadingMore(false);
      if (!r) return;
      setRows((now) => (fresh ? r.events : [...now, ...r.events]));
      setNext(r.nextPageToken);
    },
    [session],
  );

  useEffect(() => {
    const request = Math.abs(latest.current) + 1;
    latest.current = request;
    void Promise.all([
      guarded(session, () => api<LedgerHead>('GET', '/api/audit/head'), setError),
      guarded(session, () => api<LedgerPage>('GET', '/api/audit/events'), setError),
    ]).then(([h, r]) => {
      if (latest.current !== request) return; // unmounted, or a newer request was made meanwhile
      if (h) setHead(h);
      if (r) {
        setRows(r.events);
        setNext(r.nextPageToken);
      }
    });
    return () => {
      latest.current = Math.abs(latest.current) + 1;
    };
  }, [session]);

  const filter = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    void load(true, '');
  };

  return (
    <div id="audit">
      <section className="card" aria-labelledby="ledger-title">
        <h2 id="ledger-title">Audit ledger</h2>
        <p className="hint">
          Every event is a leaf of a Merkle tree; the audit service signs its head. Your queries here are
          recorded in the ledger too.
        </p>
        <Note id="ledger-error" kind="error">
          {error}
        </Note>
        <dl id="ledger-head" className="facts">
          {head ? (
            <>
              <dt>Entries</dt>
              <dd>{String(head.treeSize)}</dd>
              <dt>Root</dt>
              <dd>{`${head.rootHash.slice(0, 16)}…`}</dd>
              <dt>Signed</dt>
              <dd>{head.signedAt ? new Date(head.signedAt).toLocaleString() : '—'}</dd>
              <dt>Key</dt>
              <dd>{`${head.algorithm} ${head.keyId}`}</dd>
            </>
          ) : null}
        </dl>
        <form id="ledger-filter" className="inline-form" noValidate onSubmit={filter}>
          <div className="field">
            <label htmlFor="ledger-patient">
              Patient id <span className="hint">(optional)</span>
            </label>
            <input id="ledger-patient" ref={patient} name="patient" autoComplete="off" />
          </div>
          <button type="submit" className="button button-quiet">
            Show entries
          </button>
        </form>
        <div className="table-wrap">
          <table id="ledger-table" className="ledger-table">
            <caption className="visually-hidden">Ledger entries, newest first</caption>
            <thead>
              <tr>
                <th scope="col">#</th>
                <th scope="col">When</th>
                <th scope="col">Event</th>
                <th scope="col">By</th>
                <th scope="col">Patient</th>
                <th scope="col">About</th>
                <th scope="col">
                  <span className="visually-hidden">Proof</span>
                </th>
              </tr>
            </thead>
            <tbody id="ledger-rows">
              {rows.map((e) => (
                <tr key={e.id}>
                  <td>{String(e.leafIndex)}</td>
                  <td>{e.occurredAt ? new Date(e.occurredAt).toLocaleString() : ''}</td>
                  <td title={e.type}>{eventLabel(e.type)}</td>
                  <td className="ledger-id">
                    {e.actorId && e.actorId !== e.actor ? `${e.actor} ${e.actorId}` : e.actor}
                  </td>
                  <td className="ledger-id">{e.patientId}</td>
                  <td className="ledger-id">{e.subject}</td>
                  <td>
                    <a
                      href={`/api/audit/events/${encodeURIComponent(e.id)}/proof`}
                      download={`audit-proof-${e.id}.json`}
                      aria-label={`Download the inclusion proof of entry ${String(e.leafIndex)}`}
                    >
                      Proof
                    </a>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        {next ? (
          <button
            type="button"
            id="ledger-more"
            className="button button-quiet"
            aria-disabled={loadingMore}
            onClick={() => void load(false, next)}
          >
            More entries
          </button>
        ) : null}
      </section>
    </div>
  );
}
