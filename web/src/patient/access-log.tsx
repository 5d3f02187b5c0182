/** "Who has looked at your record?": the patient's own access log, loaded when opened. */
import { useState, type SyntheticEvent } from 'react';
import { api } from '../api/client';
import type {
  AccessLogEntryView as AccessLogEntry,
  AccessLogView,
} from '../../../services/gateway/src/audit-view';

const ROLE_NAMES: Readonly<Record<string, string>> = {
  clinician: 'A clinician',
  front_desk: 'The front desk',
  admin: 'An administrator',
  auditor: 'An auditor',
  patient: 'You',
  service_account: 'A hospital system',
};
const RESOURCE_NAMES: Readonly<Record<string, string>> = {
  patients: 'your details',
  appointments: 'your appointment',
  recordings: 'a recording',
};

/** One entry in words; `times` reads of the same thing in the same minute say so ("opened your details 3 times"). */
export function describeAccess(e: AccessLogEntry, times = 1): string {
  const when = e.time ? new Date(e.time).toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' }) : '';
  const role = ROLE_NAMES[e.role] ?? 'Someone';
  const who = e.name ? `${e.name} (${role.replace(/^(A|An|The) /, '').toLowerCase()})` : role;
  const what = RESOURCE_NAMES[e.resource] ?? 'your record';
  const verb = e.outcome === 'granted' ? 'opened' : 'was refused';
  return (
    `${when}: ${who} ${verb} ${e.outcome === 'granted' ? what : `access to ${what}`}` +
    `${times > 1 ? ` ${String(times)} times` : ''} (${e.purpose}${e.breakGlass ? ', emergency access' : ''}).`
  );
}

/**
 * The log in words, each run of entries that read the same (the same person, the same thing, the same purpose,
 * the same minute) on one line that counts them: the ledger keeps every read, the patient reads one line for a
 * burst of them.
 */
export function describeAccessLog(entries: readonly AccessLogEntry[]): string[] {
  const runs: { text: string; entry: AccessLogEntry; times: number }[] = [];
  for (const entry of entries) {
    const text = describeAccess(entry);
    const last = runs[runs.length - 1];
    if (last?.text === text) last.times += 1;
    else runs.push({ text, entry, times: 1 });
  }
  return runs.map((r) => describeAccess(r.entry, r.times));
}

/** The collapsible access log of the waiting room. */
export function AccessLog() {
  const [status, setStatus] = useState('');
  const [entries, setEntries] = useState<readonly string[]>([]);
  const onToggle = (event: SyntheticEvent<HTMLDetailsElement>) => {
    if (!event.currentTarget.open) return;
    setStatus('Loading…');
    setEntries([]);
    api<AccessLogView>('GET', '/api/patient/access-log').then(
      (r) => {
        setStatus(r.entries.length === 0 ? 'Nobody has opened your details yet.' : '');
        setEntries(describeAccessLog(r.entries));
      },
      () => setStatus('The record of who looked at your details is not available right now.'),
    );
  };
  return (
    <details id="access-log" className="access-log" onToggle={onToggle}>
      <summary>Who has looked at your record?</summary>
      <p className="hint">
        Every time someone at the clinic opens your details, it is recorded. This is that record.
      </p>
      <p id="access-log-status" role="status">
        {status}
      </p>
      <ul id="access-log-list" className="access-log-list">
        {entries.map((text, i) => (
          <li key={i}>{text}</li>
        ))}
      </ul>
    </details>
  );
}
