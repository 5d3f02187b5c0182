/**
 * The dev stack's local mail (GET /api/dev/mail): the invitations and reminders the SMTP catcher caught, newest
 * first, so the first visit shows the invitation arriving inside Haven. Not shown when the gateway has no
 * catcher (never in production: the route does not exist there).
 */
import { dateTimeOf } from '../staff/time';
import { useState } from 'react';
import { api } from '../api/client';
import { useReload } from '../api/use-reload';
import type {
  CaughtMailListView,
  CaughtMailView as CaughtMessage,
} from '../../../services/gateway/src/admin-view';

/** A caught message (services/gateway/src/admin-view.ts). */
export type { CaughtMessage };

/** The local mail card (renders nothing without a catcher). */
export function MailCard() {
  const [messages, setMessages] = useState<readonly CaughtMessage[] | null>(null);

  const load = useReload(
    () => api<CaughtMailListView>('GET', '/api/dev/mail'),
    (r) => setMessages(r.messages),
    () => setMessages(null),
  );

  if (!messages) return null;
  return (
    <section id="dev-mail" className="card" aria-labelledby="dev-mail-title">
      <h2 id="dev-mail-title">Local mail (dev stack)</h2>
      <p className="hint">What the dev stack’s mail catcher received: nothing leaves this machine.</p>
      <button type="button" className="button button-quiet" onClick={() => void load()}>
        Check for new mail
      </button>
      {messages.length === 0 ? (
        <p id="dev-mail-empty" className="hint">
          No mail yet. Book an appointment: its invitation appears here.
        </p>
      ) : (
        <ul id="dev-mail-list" className="list" aria-label="Messages received">
          {messages.map((m) => (
            <li key={m.id || m.receivedAt} className="dev-mail">
              <details>
                <summary>
                  <strong>{m.subject || '(no subject)'}</strong>
                  <span className="hint">{` to ${m.to}${m.receivedAt ? `, ${dateTimeOf(m.receivedAt)}` : ''}`}</span>
                </summary>
                <pre>{m.text}</pre>
              </details>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
