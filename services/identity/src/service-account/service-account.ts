/**
 * The ServiceAccount aggregate (`identity.service_account-<id>`): a hospital system that gets short-lived
 * tokens by OAuth 2.0 client credentials: its streams, events, state and evolve (pure; the commands are in
 * decide.ts). The client secret never appears here: its argon2id hash lives in the credential stream
 * `identity.credential-sa-<id>`.
 */

/** `identity.service_account-<id>` (the aggregate name has no `-`, which separates the id). */
export function serviceAccountStream(id: string): string {
  return `identity.service_account-${id}`;
}
/** The credential stream id of a service account (`identity.credential-sa-<id>`). */
export function serviceAccountCredentialId(id: string): string {
  return `sa-${id}`;
}
/** Every account id, in creation order (for ListServiceAccounts). */
export const SERVICE_ACCOUNT_DIRECTORY_STREAM = 'identity.directory-service_accounts';

/** `service.resource.verb`-style scopes: 2–4 lower-case dot-separated parts. */
export const SCOPE_PATTERN = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*){1,3}$/;
/** Scopes no service account may hold. */
export const RESERVED_SCOPES: readonly string[] = ['breakglass', 'identity.mfa.enroll'];

export type ServiceAccountCreated = {
  type: 'ServiceAccountCreated';
  data: { serviceAccountId: string; displayName: string; clientId: string; scopes: string[]; at: string };
};
export type ServiceAccountSecretRotated = {
  type: 'ServiceAccountSecretRotated';
  data: { serviceAccountId: string; at: string };
};
export type ServiceAccountEvent = ServiceAccountCreated | ServiceAccountSecretRotated;

/** A service account as its events left it (never its secret or the secret's hash). */
export interface ServiceAccount {
  readonly serviceAccountId: string;
  readonly displayName: string;
  readonly clientId: string;
  readonly scopes: readonly string[];
  readonly createdAt: number;
  readonly secretRotatedAt: number;
}

export type ServiceAccountState =
  { readonly status: 'none' } | ({ readonly status: 'active' } & ServiceAccount);

export const initialServiceAccountState: ServiceAccountState = { status: 'none' };

/** Folds one event. */
export function evolveServiceAccount(
  state: ServiceAccountState,
  event: ServiceAccountEvent,
): ServiceAccountState {
  const at = Date.parse(event.data.at);
  if (event.type === 'ServiceAccountCreated') {
    const d = event.data;
    return {
      status: 'active',
      serviceAccountId: d.serviceAccountId,
      displayName: d.displayName,
      clientId: d.clientId,
      scopes: d.scopes,
      createdAt: at,
      secretRotatedAt: at,
    };
  }
  if (state.status === 'none') return state;
  return { ...state, secretRotatedAt: at };
}
