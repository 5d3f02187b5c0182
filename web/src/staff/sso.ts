/** Staff single sign-on on the page: what a returning sign-in means (`?sso=`) and the providers' links. */
import { api } from '../api/client';
import type {
  SsoProviderListView,
  SsoProviderView as SsoProvider,
} from '../../../services/gateway/src/account-view';

const NOTICES: Readonly<Record<string, string>> = {
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
export function takeSsoNotice(): string {
  const params = new URLSearchParams(location.search);
  const outcome = params.get('sso');
  if (outcome === null) return '';
  params.delete('sso');
  const rest = params.toString();
  history.replaceState(null, '', `${location.pathname}${rest ? `?${rest}` : ''}${location.hash}`);
  return NOTICES[outcome] ?? NOTICES['failed'] ?? '';
}

/** One clinic identity provider: a plain navigation to the gateway, which runs the code flow. */
export type { SsoProvider };

/** The clinics' providers (none when SSO is off or the call fails). */
export async function ssoProviders(): Promise<readonly SsoProvider[]> {
  const r = await api<SsoProviderListView>('GET', '/api/auth/sso/providers').catch(() => null);
  return r?.providers ?? [];
}
