// Staff single sign-on on the page: the "Sign in with …" links for the clinics' identity providers (a plain
// navigation to the gateway, which runs the code flow), what a returning sign-in means (`?sso=`), and the admin's
// list of SSO accounts waiting for approval.
import { api } from './api.js';

const NOTICES = {
  pending:
    'You signed in with your organisation. Your Haven account now waits for an administrator to approve it; ' +
    'sign in again once they have.',
  refused:
    'Your organisation’s account may not use Haven (none of your groups has a Haven role, or the account was ' +
    'refused). Please ask your administrator.',
  failed: 'Sign-in with your organisation did not complete. Please try again.',
  unavailable: 'Sign-in with your organisation is not available right now. Please try again later.',
};

/** What the last SSO attempt ended with (`?sso=` on the address), as a notice; removes it from the address. */
export function takeSsoNotice() {
  const params = new URLSearchParams(location.search);
  const outcome = params.get('sso');
  if (outcome === null) return '';
  params.delete('sso');
  const rest = params.toString();
  history.replaceState(null, '', `${location.pathname}${rest ? `?${rest}` : ''}${location.hash}`);
  return NOTICES[outcome] ?? NOTICES.failed;
}

/** Fills `list` with one link per provider and shows `box` when there is any. */
export async function renderSsoProviders(box, list) {
  const r = await api('GET', '/api/auth/sso/providers').catch(() => ({ providers: [] }));
  const providers = r?.providers ?? [];
  list.replaceChildren(
    ...providers.map((p) => {
      const li = document.createElement('li');
      const a = document.createElement('a');
      a.className = 'button button-quiet sso-button';
      a.href = p.startUrl;
      a.textContent = `Sign in with ${p.displayName}`;
      li.append(a);
      return li;
    }),
  );
  box.hidden = providers.length === 0;
}

const ROLE_LABELS = {
  admin: 'administrator',
  clinician: 'clinician',
  front_desk: 'front desk',
  auditor: 'auditor',
};

/** Shows the SSO accounts waiting for approval in `section` (admins), with Approve and Refuse buttons. */
export async function loadSsoApprovals(section, list, empty, errorBox) {
  let accounts;
  try {
    accounts = (await api('GET', '/api/sso-accounts?state=pending')).accounts;
  } catch {
    section.hidden = true;
    return;
  }
  section.hidden = false;
  errorBox.hidden = true;
  empty.hidden = accounts.length > 0;
  list.replaceChildren(
    ...accounts.map((a) => {
      const li = document.createElement('li');
      li.className = 'list-item';
      const who = document.createElement('span');
      who.textContent = `${a.displayName || a.email} (${a.email}) — ${a.identityProvider}, asks to be ${
        ROLE_LABELS[a.requestedRole] ?? a.requestedRole
      }`;
      const decide = (verb) => async () => {
        try {
          await api('POST', `/api/sso-accounts/${a.id}/${verb}`, {});
          await loadSsoApprovals(section, list, empty, errorBox);
        } catch (err) {
          errorBox.textContent = err.message;
          errorBox.hidden = false;
        }
      };
      const approve = document.createElement('button');
      approve.type = 'button';
      approve.className = 'button button-primary';
      approve.textContent = 'Approve';
      approve.setAttribute('aria-label', `Approve ${a.email}`);
      approve.addEventListener('click', decide('approve'));
      const refuse = document.createElement('button');
      refuse.type = 'button';
      refuse.className = 'button button-quiet';
      refuse.textContent = 'Refuse';
      refuse.setAttribute('aria-label', `Refuse ${a.email}`);
      refuse.addEventListener('click', decide('reject'));
      const actions = document.createElement('div');
      actions.className = 'actions';
      actions.append(approve, refuse);
      li.append(who, actions);
      return li;
    }),
  );
}
