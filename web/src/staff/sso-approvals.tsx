/** Admins: staff who signed in with their organisation's account for the first time, waiting for approval. */
import { useState } from 'react';
import { api } from '../api/client';
import { messageOf } from './form';
import { ROLE_LABELS, type SsoAccount, type SsoAccountListView } from './types';
import { Note } from '../ui/note';
import { useReload } from '../api/use-reload';

/** The approvals card (not shown when the gateway has no SSO accounts to list). */
export function SsoApprovals() {
  const [accounts, setAccounts] = useState<readonly SsoAccount[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  const load = useReload(
    () => api<SsoAccountListView>('GET', '/api/sso-accounts?state=pending'),
    (r) => {
      setAccounts(r.accounts);
      setError(null);
    },
    () => setAccounts(null),
  );

  const decide = async (a: SsoAccount, verb: 'approve' | 'reject') => {
    try {
      await api('POST', `/api/sso-accounts/${a.id}/${verb}`, {});
      await load();
    } catch (err) {
      setError(messageOf(err));
    }
  };

  if (!accounts) return null;
  return (
    <section id="sso-approvals" className="card" aria-labelledby="sso-approvals-title">
      <h2 id="sso-approvals-title">Waiting for approval</h2>
      <p className="hint">
        Staff who signed in with their organisation’s account for the first time. They can use Haven once you
        approve them, with the role their groups map to.
      </p>
      <Note id="sso-approvals-error" kind="error">
        {error}
      </Note>
      <ul id="sso-approvals-list" className="list">
        {accounts.map((a) => (
          <li key={a.id} className="list-item">
            <span>
              {`${a.displayName || a.email} (${a.email}) — ${a.identityProvider}, asks to be ${
                ROLE_LABELS[a.requestedRole] ?? a.requestedRole
              }`}
            </span>
            <div className="actions">
              <button
                type="button"
                className="button button-primary"
                aria-label={`Approve ${a.email}`}
                onClick={() => void decide(a, 'approve')}
              >
                Approve
              </button>
              <button
                type="button"
                className="button button-quiet"
                aria-label={`Refuse ${a.email}`}
                onClick={() => void decide(a, 'reject')}
              >
                Refuse
              </button>
            </div>
          </li>
        ))}
      </ul>
      <Note id="sso-approvals-empty" kind="hint" shown={accounts.length === 0}>
        Nobody is waiting.
      </Note>
    </section>
  );
}
