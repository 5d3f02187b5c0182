/** Every member of staff: their passkeys (sign in without a password): list, add, remove. */
import { useState, type FormEvent } from 'react';
import { api } from '../api/client';
import { formValue } from './form';
import type { Passkey, PasskeyListView } from './types';
import { passkeyFailure, registerPasskey } from './webauthn';
import { Note } from '../ui/note';
import { useReload } from '../api/use-reload';
import { dateOf, dateTimeOf } from './time';

/** The passkeys card. */
export function Passkeys() {
  const [passkeys, setPasskeys] = useState<readonly Passkey[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [status, setStatus] = useState<string | null>(null);

  const load = useReload(
    () => api<PasskeyListView>('GET', '/api/me/passkeys'),
    (r) => setPasskeys(r.passkeys),
    (err) => setError(passkeyFailure(err)),
  );

  const remove = async (p: Passkey) => {
    try {
      await api('DELETE', `/api/me/passkeys/${encodeURIComponent(p.id)}`);
      await load();
      setStatus(`The passkey ${p.name} was removed.`);
    } catch (err) {
      setError(passkeyFailure(err));
    }
  };

  const add = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const el = event.currentTarget;
    const name = formValue(new FormData(el), 'name').trim();
    setError(null);
    setStatus(null);
    void (async () => {
      try {
        const passkey = await registerPasskey(name);
        el.reset();
        await load(); // the list first: the status tells a screen reader (and a test) it is up to date
        setStatus(`The passkey ${passkey.name} was added.`);
      } catch (err) {
        setError(passkeyFailure(err));
      }
    })();
  };

  return (
    <section id="passkeys" className="card" aria-labelledby="passkeys-title">
      <h2 id="passkeys-title">Passkeys</h2>
      <p className="hint">
        A passkey signs you in without a password, with your device's screen lock or security key. Once you
        have one, your password alone no longer signs you in.
      </p>
      <Note id="passkey-error" kind="error">
        {error}
      </Note>
      <Note id="passkey-status" kind="success">
        {status}
      </Note>
      <ul id="passkey-list" className="list">
        {passkeys.map((p) => (
          <li key={p.id}>
            <span>
              {`${p.name} (${p.createdAt ? `added ${dateOf(p.createdAt)}, ` : ''}${
                p.lastUsedAt ? `last used ${dateTimeOf(p.lastUsedAt)}` : 'never used'
              })`}
            </span>{' '}
            <button
              type="button"
              className="button button-quiet"
              aria-label={`Remove the passkey ${p.name}`}
              onClick={() => void remove(p)}
            >
              Remove
            </button>
          </li>
        ))}
      </ul>
      <Note id="passkey-empty" kind="hint" shown={passkeys.length === 0}>
        You have no passkey yet.
      </Note>
      <form id="passkey-form" className="inline-form" noValidate onSubmit={add}>
        <div className="field">
          <label htmlFor="passkey-name">Name of the new passkey</label>
          <input id="passkey-name" name="name" type="text" maxLength={100} placeholder="Work laptop" />
        </div>
        <button type="submit" className="button button-primary">
          Add a passkey
        </button>
      </form>
    </section>
  );
}
