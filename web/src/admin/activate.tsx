/**
 * The invited person's first visit (`/#invitation=<token>`, the link the admin console shows once): they choose
 * their password (POST /api/auth/activate), then sign in and set up their second factor. The token stays in the
 * fragment, so it never reaches a server log, and leaves the address bar as soon as the page has read it.
 */
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { api, ApiError } from '../api/client';
import { Field, FormMessages, formValue, useForm } from '../staff/form';
import type { ActivationView } from './types';

const LABELS = { password: 'Password', confirm: 'Password again' };

/** The invitation token in the address; '' when there is none. */
export function invitationToken(): string {
  const m = /^#invitation=([^&]+)$/.exec(window.location.hash);
  try {
    return m?.[1] ? decodeURIComponent(m[1]) : '';
  } catch {
    return '';
  }
}

/** The "choose your password" screen. */
export function Activate({ token, onDone }: { token: string; onDone: (notice: string) => void }) {
  const form = useForm(LABELS);
  const first = useRef<HTMLInputElement>(null);
  const [spent, setSpent] = useState(false);
  useEffect(() => {
    // The token leaves the address bar (and the history) once this screen holds it.
    if (invitationToken()) history.replaceState(null, '', window.location.pathname + window.location.search);
    first.current?.focus();
  }, []);

  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const el = event.currentTarget;
    const data = new FormData(el);
    const password = formValue(data, 'password');
    if (password !== formValue(data, 'confirm')) {
      form.fail(
        new ApiError(400, {
          error: { fieldViolations: [{ field: 'confirm', description: 'is not the same' }] },
        }),
        el,
      );
      return;
    }
    void form.run(el, async () => {
      try {
        const r = await api<ActivationView>('POST', '/api/auth/activate', {
          invitationToken: token,
          password,
        });
        onDone(`Your account is ready. Sign in as ${r.username} with your new password.`);
      } catch (err) {
        if (err instanceof ApiError && err.status === 401) setSpent(true);
        el.reset();
        throw err;
      }
    });
  };

  return (
    <section id="activate" className="card narrow" aria-labelledby="activate-title">
      <h1 id="activate-title">Choose your password</h1>
      <p className="lead">You were invited to Haven. Choose a long password that you use nowhere else.</p>
      <form id="activate-form" noValidate onSubmit={submit} aria-busy={form.busy}>
        <FormMessages id="activate" state={form} />
        <Field
          ref={first}
          name="password"
          label="Password"
          state={form}
          type="password"
          autoComplete="new-password"
          required
        />
        <Field
          name="confirm"
          label="Password again"
          state={form}
          type="password"
          autoComplete="new-password"
          required
        />
        <button type="submit" className="button button-primary" disabled={form.busy || spent}>
          Set password
        </button>
      </form>
      <button type="button" id="activate-cancel" className="button button-quiet" onClick={() => onDone('')}>
        I already have a password
      </button>
    </section>
  );
}
