/**
 * Sign-in (username, password, authenticator code; a passkey; the clinic's SSO providers) and the second-factor
 * enrolment that a new account must finish first (TOTP with recovery codes shown once, or a passkey instead).
 */
import { useEffect, useRef, useState, type FormEvent, type ReactNode } from 'react';
import { api } from '../api/client';
import { Field, FormMessages, formValue, messageOf, useForm } from './form';
import { ssoProviders, type SsoProvider } from './sso';
import type { LoginResult, RecoveryCodesView, TotpEnrollment } from './types';
import { passkeyFailure, registerPasskey, signInWithPasskey } from './webauthn';
import { Note } from '../ui/note';

const SIGN_IN_LABELS = { username: 'Username', password: 'Password', totp: 'Authenticator code' };

/** What a sign-in ended with. */
export type SignedIn =
  | { readonly next: 'enroll' }
  | { readonly next: 'home'; readonly notice: string; readonly role: LoginResult['user']['role'] }
  | { readonly next: 'reload' };

/** The passkey way in, under the form: its button and its own error line (`<id>-error`). */
function PasskeyButton({
  id,
  error,
  onClick,
  children,
}: {
  id: string;
  error: string | null;
  onClick: () => void;
  children: ReactNode;
}) {
  return (
    <div className="passkey-sign-in">
      <Note id={`${id}-error`} kind="error">
        {error}
      </Note>
      <button type="button" id={id} className="button button-quiet" onClick={onClick}>
        {children}
      </button>
    </div>
  );
}

/** The sign-in screen. */
export function SignIn({ notice, onSignedIn }: { notice: string; onSignedIn: (r: SignedIn) => void }) {
  const form = useForm(SIGN_IN_LABELS);
  const [passkeyError, setPasskeyError] = useState<string | null>(null);
  const [providers, setProviders] = useState<readonly SsoProvider[]>([]);
  const [shownNotice, setShownNotice] = useState(notice);
  const username = useRef<HTMLInputElement>(null);
  const password = useRef<HTMLInputElement>(null);

  useEffect(() => {
    username.current?.focus();
    let live = true;
    void ssoProviders().then((p) => live && setProviders(p));
    return () => {
      live = false;
    };
  }, []);

  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const el = event.currentTarget;
    const data = new FormData(el);
    setShownNotice('');
    void form
      .run(el, async () => {
        const result = await api<LoginResult>('POST', '/api/auth/login', {
          username: formValue(data, 'username'),
          password: formValue(data, 'password'),
          totp: formValue(data, 'totp'),
        });
        el.reset();
        if (result.mfaEnrollmentRequired) return onSignedIn({ next: 'enroll' });
        onSignedIn({
          next: 'home',
          role: result.user.role,
          notice: result.passwordChangeRequired
            ? 'Your password has expired. Please ask your administrator to help you set a new one.'
            : '',
        });
      })
      .then((ok) => {
        if (!ok && password.current) password.current.value = '';
      });
  };

  const passkey = async () => {
    setPasskeyError(null);
    try {
      await signInWithPasskey();
      onSignedIn({ next: 'reload' });
    } catch (err) {
      setPasskeyError(passkeyFailure(err));
    }
  };

  return (
    <section id="sign-in" className="card narrow" aria-labelledby="sign-in-title">
      <h1 id="sign-in-title">Sign in</h1>
      <p className="lead">Secure video visits for your clinic.</p>
      <Note id="sign-in-notice" kind="notice">
        {shownNotice}
      </Note>
      <form id="sign-in-form" noValidate onSubmit={submit} aria-busy={form.busy}>
        <FormMessages id="sign-in" state={form} />
        <Field
          ref={username}
          name="username"
          label="Username"
          state={form}
          type="text"
          autoComplete="username"
          autoCapitalize="none"
          spellCheck={false}
          required
        />
        <Field
          ref={password}
          name="password"
          label="Password"
          state={form}
          type="password"
          autoComplete="current-password"
          required
        />
        <Field
          name="totp"
          label="Authenticator code"
          hint="(if you have set one up)"
          state={form}
          type="text"
          inputMode="numeric"
          autoComplete="one-time-code"
          maxLength={12}
        />
        <button type="submit" className="button button-primary" disabled={form.busy}>
          Sign in
        </button>
      </form>
      <PasskeyButton id="passkey-sign-in" error={passkeyError} onClick={() => void passkey()}>
        Use a passkey
      </PasskeyButton>
      {providers.length > 0 ? (
        <div id="sso" className="sso">
          <p className="sso-divider">or with your organisation’s account</p>
          <ul id="sso-providers" className="sso-providers">
            {providers.map((p) => (
              <li key={p.startUrl}>
                <a className="button button-quiet sso-button" href={p.startUrl}>
                  Sign in with {p.displayName}
                </a>
              </li>
            ))}
          </ul>
        </div>
      ) : null}
    </section>
  );
}

/** The second-factor enrolment: TOTP (QR code, key, confirm, recovery codes once) or a passkey instead. */
export function Enroll({
  onDone,
  onSignedOut,
}: {
  /** Enrolled: the user signs in again (`notice` for the sign-in screen, or a reload for a passkey). */
  onDone: (r: { notice: string } | { reload: true }) => void;
  onSignedOut: (err: unknown) => boolean;
}) {
  const [setup, setSetup] = useState<TotpEnrollment | null>(null);
  const [codes, setCodes] = useState<readonly string[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [passkeyError, setPasskeyError] = useState<string | null>(null);
  const form = useForm({ code: 'Code from the app' });
  const title = useRef<HTMLHeadingElement>(null);
  const code = useRef<HTMLInputElement>(null);
  const finish = useRef<HTMLButtonElement>(null);

  useEffect(() => {
    title.current?.focus();
    let live = true;
    api<TotpEnrollment>('POST', '/api/auth/totp/enroll', {}).then(
      (r) => {
        if (!live) return;
        setSetup(r);
        setTimeout(() => code.current?.focus());
      },
      (err: unknown) => {
        if (live && !onSignedOut(err)) setError(messageOf(err));
      },
    );
    return () => {
      live = false;
    };
  }, [onSignedOut]);

  const confirm = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const el = event.currentTarget;
    const data = new FormData(el);
    void form.run(el, async () => {
      const r = await api<RecoveryCodesView>('POST', '/api/auth/totp/confirm', {
        code: formValue(data, 'code'),
      });
      el.reset();
      setCodes(r.recoveryCodes);
      setTimeout(() => finish.current?.focus());
    });
  };

  const passkey = async () => {
    setPasskeyError(null);
    try {
      await registerPasskey('Passkey');
      // The enrollment-only session has done its job: sign in again, with the passkey.
      await api('POST', '/api/auth/logout', {}).catch(() => undefined);
      onDone({ reload: true });
    } catch (err) {
      setPasskeyError(passkeyFailure(err));
    }
  };

  const done = async () => {
    setCodes(null);
    await api('POST', '/api/auth/logout', {}).catch(() => undefined);
    onDone({ notice: 'Your authenticator app is set up. Sign in again with a code from the app.' });
  };

  return (
    <section id="enroll" className="card narrow" aria-labelledby="enroll-title">
      <h1 id="enroll-title" tabIndex={-1} ref={title}>
        Set up your authenticator app
      </h1>
      {codes ? null : (
        <p className="lead">
          Your account needs a second step at sign-in. Scan this code with an authenticator app (for example
          FreeOTP, Google Authenticator or 1Password), then type the 6-digit code it shows.
        </p>
      )}
      {error || form.error ? (
        <p id="enroll-error" className="form-error" role="alert">
          {error ?? form.error}
        </p>
      ) : null}
      {codes ? null : (
        <PasskeyButton id="enroll-passkey" error={passkeyError} onClick={() => void passkey()}>
          Set up a passkey instead
        </PasskeyButton>
      )}
      {setup && !codes ? (
        <div id="enroll-setup">
          <img
            id="enroll-qr"
            className="qr"
            alt="QR code for your authenticator app"
            width={220}
            height={220}
            src={setup.qr}
          />
          <p className="hint">Cannot scan? Enter this key in the app instead:</p>
          <p id="enroll-secret" className="secret">
            {setup.secret.replace(/(.{4})/g, '$1 ').trim()}
          </p>
          <details>
            <summary>Show the full setup link</summary>
            <p id="enroll-uri" className="uri">
              {setup.otpauthUri}
            </p>
          </details>
          <form id="enroll-form" noValidate onSubmit={confirm} aria-busy={form.busy}>
            <Field
              ref={code}
              name="code"
              label="Code from the app"
              state={form}
              type="text"
              inputMode="numeric"
              autoComplete="one-time-code"
              maxLength={8}
              required
            />
            <button type="submit" className="button button-primary" disabled={form.busy}>
              Confirm
            </button>
          </form>
        </div>
      ) : null}
      {codes ? (
        <div id="enroll-done">
          <p className="form-success" role="status">
            Your authenticator app is set up.
          </p>
          <h2>Recovery codes</h2>
          <p>
            Each code works once if you lose your phone. Save them somewhere safe now: they will not be shown
            again.
          </p>
          <ol id="recovery-codes" className="codes">
            {codes.map((c) => (
              <li key={c}>{c}</li>
            ))}
          </ol>
          <div className="actions">
            <button
              type="button"
              id="copy-codes"
              className="button button-quiet"
              onClick={() => void navigator.clipboard?.writeText(codes.join('\n')).catch(() => undefined)}
            >
              Copy codes
            </button>
            <button
              type="button"
              id="enroll-finish"
              ref={finish}
              className="button button-primary"
              onClick={() => void done()}
            >
              I have saved them — sign in again
            </button>
          </div>
        </div>
      ) : null}
    </section>
  );
}
