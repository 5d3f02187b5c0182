/**
 * The usage report: appointments, visits held, booked minutes of the visits held, no-shows and cancellations over
 * a range of days in the browser's time zone, for the clinic and per clinician. Counts only; no patient appears.
 */
import { useEffect, useState, type FormEvent } from 'react';
import { api } from '../api/client';
import { ApiError } from '../api/client';
import { formValue, messageOf } from '../staff/form';
import type { ClinicianListView } from '../staff/types';
import type { UsageCounts, UsageReport } from './types';
import { Note } from '../ui/note';
import { whileCurrent } from '../api/while-current';

const LABELS: Readonly<Record<string, string>> = { from: 'From', to: 'To', timeZone: 'Time zone' };

/** A refused range in words: `To must not be before start_day.` becomes the form's own names. */
function failure(err: unknown): string {
  if (err instanceof ApiError && err.fieldViolations.length > 0)
    return err.fieldViolations.map((v) => `${LABELS[v.field] ?? v.field} ${v.description}.`).join(' ');
  return messageOf(err);
}

/** `YYYY-MM-DD` of a date in the browser's zone. */
export function localDay(d: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/** The browser's IANA time zone. */
function zone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

function Cells({ c }: { c: UsageCounts }) {
  return (
    <>
      <td>{c.appointments}</td>
      <td>{c.completed}</td>
      <td>{c.completedMinutes}</td>
      <td>{c.noShows}</td>
      <td>{c.cancelled}</td>
    </>
  );
}

/** The usage card. */
export function UsageCard({ timeZone = zone() }: { timeZone?: string }) {
  const today = new Date();
  const monthStart = new Date(today.getFullYear(), today.getMonth(), 1);
  const [range, setRange] = useState({ from: localDay(monthStart), to: localDay(today) });
  const [report, setReport] = useState<UsageReport | null>(null);
  const [names, setNames] = useState<ReadonlyMap<string, string>>(new Map());
  const [error, setError] = useState<string | null>(null);

  useEffect(
    () =>
      whileCurrent(api<ClinicianListView>('GET', '/api/clinicians'), (r) =>
        setNames(new Map(r.clinicians.map((c) => [c.id, c.displayName]))),
      ),
    [],
  );

  useEffect(() => {
    const q = new URLSearchParams({ from: range.from, to: range.to, timeZone });
    return whileCurrent(
      api<UsageReport>('GET', `/api/usage?${q.toString()}`),
      (r) => {
        setReport(r);
        setError(null);
      },
      (err: unknown) => setError(failure(err)),
    );
  }, [range, timeZone]);

  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const data = new FormData(event.currentTarget);
    setRange({ from: formValue(data, 'from'), to: formValue(data, 'to') });
  };

  return (
    <section id="admin-usage" className="card" aria-labelledby="admin-usage-title">
      <h2 id="admin-usage-title">Usage</h2>
      <form id="admin-usage-range" className="inline-form" noValidate onSubmit={submit}>
        <div className="field">
          <label htmlFor="usage-from">From</label>
          <input id="usage-from" name="from" type="date" defaultValue={range.from} required />
        </div>
        <div className="field">
          <label htmlFor="usage-to">To</label>
          <input id="usage-to" name="to" type="date" defaultValue={range.to} required />
        </div>
        <button type="submit" className="button button-quiet">
          Show usage
        </button>
      </form>
      <Note id="admin-usage-error" kind="error">
        {error}
      </Note>
      {report ? (
        <div className="table-wrap" tabIndex={0} role="region" aria-label="Usage by clinician">
          <table id="admin-usage-table" className="ledger-table">
            <caption className="visually-hidden">{`Usage from ${range.from} to ${range.to}`}</caption>
            <thead>
              <tr>
                <th scope="col">Clinician</th>
                <th scope="col">Appointments</th>
                <th scope="col">Visits held</th>
                <th scope="col">Minutes booked</th>
                <th scope="col">No-shows</th>
                <th scope="col">Cancelled</th>
              </tr>
            </thead>
            <tbody>
              {report.clinicians.map((c) => (
                <tr key={c.clinicianId}>
                  <th scope="row">{names.get(c.clinicianId) ?? c.clinicianId}</th>
                  <Cells c={c} />
                </tr>
              ))}
              <tr id="admin-usage-total">
                <th scope="row">All clinicians</th>
                <Cells c={report.total} />
              </tr>
            </tbody>
          </table>
        </div>
      ) : null}
      <p className="hint">
        {`Days in ${timeZone}. An appointment counts on the day it starts; minutes are the booked length of the visits held.`}
      </p>
    </section>
  );
}
