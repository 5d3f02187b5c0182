/**
 * The staff app (/): sign-in → (second-factor enrolment) → home, whose cards depend on the role: the front desk
 * (front desk, admins), SSO approvals and the admin console (admins), the audit ledger (auditors, admins), the clinician's console
 * (clinicians), and everyone's passkeys.
 */
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { Activate, invitationToken } from '../admin/activate';
import { AdminConsole } from '../admin/admin-console';
import { api, lastRefreshAt, refreshSession } from '../api/client';
import { pageActivity } from '../live/live-channel';
import { havenVisit } from '../visit/mount';
import { startActivityPulse } from './activity-pulse';
import { Audit } from './audit';
import { Console } from './console';
import { FrontDesk } from './front-desk';
import { StaffMessages } from '../messages/staff-messages';
import { Passkeys } from './passkeys';
import { SessionContext, type StaffSession } from './session';
import { Enroll, SignIn, type SignedIn } from './sign-in';
import { takeSsoNotice } from './sso';
import { SsoApprovals } from './sso-approvals';
import { greeting, setClinicTimeZone } from './time';
import { ROLE_LABELS, type LogoutView, type Me, type Role } from './types';
import type { ClinicSettingsView } from '../../../services/gateway/src/clinic-settings-view';
import { Note } from '../ui/note';

const FRONT_DESK: ReadonlySet<string> = new Set<Role>(['admin', 'front_desk']);
const AUDIT_READERS: ReadonlySet<string> = new Set<Role>(['admin', 'auditor']);

/**
 * Leaves the video visit the clinician is in, if any, while its screen is still on the page: the visit's handle
 * (window.HavenVisit) then reports `left` instead of the last state of a screen that vanished.
 */
async function leaveVideo(): Promise<void> {
  await havenVisit.leave().catch(() => undefined);
}

/**
 * Reads the clinic's time zone (the clinic settings) for the staff pages' times; the browser's when unknown.
 * Auditors do not ask: the ledger's times are the browser's.
 */
async function loadClinicTimeZone(): Promise<void> {
  const settings = await api<ClinicSettingsView>('GET', '/api/clinic-settings').catch(() => null);
  setClinicTimeZone(settings?.timeZone);
}

/** How many times the sign-in screen was shown (a new one starts with empty fields). */
let signIns = 0;

/** The app's screens. */
export type Screen =
  | { readonly screen: 'loading' }
  | { readonly screen: 'sign-in'; readonly notice: string; readonly n: number }
  | { readonly screen: 'enroll' }
  | { readonly screen: 'activate'; readonly token: string }
  | { readonly screen: 'home'; readonly me: Me; readonly notice: string };

function Home({ me, notice }: { me: Me; notice: string }) {
  const title = useRef<HTMLHeadingElement>(null);
  useEffect(() => title.current?.focus(), []);
  const role = me.role ?? '';
  return (
    <section id="home" aria-labelledby="home-title">
      <div className="card">
        <h1 id="home-title" tabIndex={-1} ref={title}>
          {`${greeting()}.`}
        </h1>
        <p id="home-role" className="lead">
          {`You are signed in as ${ROLE_LABELS[role] ?? 'member of staff'}.`}
        </p>
        <Note id="account-notice" kind="notice">
          {notice}
        </Note>
      </div>
      {FRONT_DESK.has(role) ? <FrontDesk /> : null}
      {role === 'front_desk' ? <StaffMessages role="front_desk" /> : null}
      {role === 'admin' ? <SsoApprovals /> : null}
      {role === 'admin' ? <AdminConsole /> : null}
      {AUDIT_READERS.has(role) ? <Audit /> : null}
      {role === 'clinician' ? <Console /> : null}
      <Passkeys />
    </section>
  );
}

/** The whole staff page. */
export function StaffApp() {
  const [screen, setScreen] = useState<Screen>(() => {
    const token = invitationToken();
    return token ? { screen: 'activate', token } : { screen: 'loading' };
  });
  const invited = useRef(screen.screen === 'activate');
  const showSignIn = useCallback((notice = '') => {
    signIns += 1;
    setScreen({ screen: 'sign-in', notice, n: signIns });
  }, []);

  const showHome = useCallback(async (notice: string, fallback?: Me) => {
    try {
      const me = await api<Me>('GET', '/api/me');
      if (me.role && me.role !== 'auditor') await loadClinicTimeZone();
      if (!me.role) setScreen({ screen: 'enroll' });
      else setScreen({ screen: 'home', me, notice });
    } catch (err) {
      if (fallback) setScreen({ screen: 'home', me: fallback, notice });
      else throw err;
    }
  }, []);

  useEffect(() => {
    if (invited.current) return; // the first screen is the invitation's (see useState)
    const ssoNotice = takeSsoNotice();
    api<Me>('GET', '/api/me').then(
      async (me) => {
        if (me.role && me.role !== 'auditor') await loadClinicTimeZone();
        setScreen(me.role ? { screen: 'home', me, notice: '' } : { screen: 'enroll' });
      },
      () => showSignIn(ssoNotice),
    );
  }, [showSignIn]);

  const signedOut = useCallback(
    (reason: string) => {
      void (async () => {
        // Idle logoff: the session ends here too (cookies cleared, identity told), so reloading the unattended
        // page cannot resume it with the refresh cookie.
        if (reason === 'idle') await api('POST', '/api/auth/logout', {}).catch(() => undefined);
        await leaveVideo();
        showSignIn(
          reason === 'idle'
            ? 'You were signed out after a period of inactivity. Please sign in again.'
            : 'You were signed out. Please sign in again.',
        );
      })();
    },
    [showSignIn],
  );

  const onSignedIn = useCallback(
    (r: SignedIn) => {
      if (r.next === 'reload') window.location.reload();
      else if (r.next === 'enroll') setScreen({ screen: 'enroll' });
      else void showHome(r.notice, { role: r.role });
    },
    [showHome],
  );

  const enrollSignedOut = useCallback(
    (err: unknown) => {
      if ((err as { status?: number } | null)?.status !== 401) return false;
      signedOut('revoked');
      return true;
    },
    [signedOut],
  );

  const signOut = async () => {
    await leaveVideo();
    setScreen({ screen: 'loading' });
    // 204 (no body) unless the sign-in went through the clinic's identity provider.
    const out = await api<LogoutView | null>('POST', '/api/auth/logout', {}).catch(() => null);
    // Signed in with the organisation's account: its sign-on session ends too (RP-initiated logout).
    if (out?.endSessionUrl) {
      location.assign(out.endSessionUrl);
      return;
    }
    showSignIn();
  };

  const me = screen.screen === 'home' ? screen.me : null;
  const session = useMemo<StaffSession | null>(() => (me ? { me, signedOut } : null), [me, signedOut]);

  // Input on any signed-in screen, and a live conversation in the console's visit, are activity for both idle
  // clocks (identity's moves only on a refresh): one pulse for the page.
  useEffect(() => {
    if (!me) return undefined;
    return startActivityPulse(me.idleTimeoutSec, {
      inConversation: () => havenVisit.inConversation(),
      // Every staff socket of the page: the visit chat's too, which the gateway would sign out on its own.
      activity: pageActivity,
      refresh: refreshSession,
      lastRefreshAt,
      idleTimeoutSec: () => api<Me>('GET', '/api/me').then((m) => m.idleTimeoutSec),
      inputs: window,
    });
  }, [me]);

  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <div className="brand">
          <img src="/favicon.svg" alt="" width={32} height={32} />
          <span className="brand-name">Haven</span>
        </div>
        {screen.screen === 'home' || screen.screen === 'enroll' ? (
          <button type="button" id="sign-out" className="button button-quiet" onClick={() => void signOut()}>
            Sign out
          </button>
        ) : null}
      </header>
      <main id="main" tabIndex={-1}>
        {screen.screen === 'loading' ? (
          <p id="loading" className="loading" role="status">
            Loading…
          </p>
        ) : null}
        {screen.screen === 'sign-in' ? (
          <SignIn key={screen.n} notice={screen.notice} onSignedIn={onSignedIn} />
        ) : null}
        {screen.screen === 'activate' ? <Activate token={screen.token} onDone={showSignIn} /> : null}
        {screen.screen === 'enroll' ? (
          <Enroll
            onDone={(r) => ('reload' in r ? window.location.reload() : showSignIn(r.notice))}
            onSignedOut={enrollSignedOut}
          />
        ) : null}
        {screen.screen === 'home' && session ? (
          <SessionContext.Provider value={session}>
            <Home me={screen.me} notice={screen.notice} />
          </SessionContext.Provider>
        ) : null}
      </main>
    </>
  );
}
