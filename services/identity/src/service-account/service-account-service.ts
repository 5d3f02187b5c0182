/**
 * The service-account use cases: create (idempotent with a request key), read, list, rotate the client secret,
 * and OAuth 2.0 client credentials (a 5-minute token). The client secret is shown once; only its argon2id hash is
 * kept, in the credential stream `identity.credential-sa-<id>`.
 */
import { newEvent, newEventId, type ExpectedRevision } from '@haven/eventstore';
import { NotFoundError, PermissionError, UnauthenticatedError, ValidationError } from '@haven/errors';
import {
  idempotentResourceId,
  nextOffsetToken,
  offsetPage,
  pageItems,
  requestRecord,
  RevocationReason,
  type IdempotencyKey,
} from '@haven/service';
import type { CredentialEvent } from '../credential/credential';
import type { IdentityDeps } from '../shared/deps';
import { RESOURCE_ID } from '../shared/ids';
import { revokeSubject } from '../shared/revocation';
import { identityEvent, load, replayOf, run, type CommandContext, type PureDecider } from '../shared/streams';
import { issueAccessToken, randomSecret } from '../tokens/tokens';
import { decideServiceAccount, type ServiceAccountCommand } from './decide';
import {
  evolveServiceAccount,
  initialServiceAccountState,
  type ServiceAccount,
  SERVICE_ACCOUNT_DIRECTORY_STREAM,
  serviceAccountCredentialId,
  serviceAccountStream,
  type ServiceAccountEvent,
  type ServiceAccountState,
} from './service-account';

const serviceAccountDecider: PureDecider<ServiceAccountCommand, ServiceAccountEvent, ServiceAccountState> = {
  decide: decideServiceAccount,
  evolve: evolveServiceAccount,
  initialState: initialServiceAccountState,
};

/** Service-account access tokens live 5 minutes. */
export const SERVICE_ACCOUNT_TOKEN_TTL_SEC = 300;

/** What a caller sees of a service account: all of it (the state never holds the secret or its hash). */
export type ServiceAccountView = ServiceAccount;

/** A client-credentials request. */
export interface ClientCredentialsInput {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly scopes: readonly string[];
  readonly correlationId: string;
}

/** An issued service-account token. */
export interface ServiceAccountToken {
  readonly accessToken: string;
  readonly expiresAt: number;
  readonly scopes: readonly string[];
}

/** The service-account use cases. */
export class ServiceAccountService {
  constructor(private readonly deps: IdentityDeps) {}

  /**
   * Creates a service account; returns it with its client secret (shown once; only an argon2id hash is kept).
   * Throws ValidationError on a bad id, name or scopes, AlreadyExistsError when the id is taken.
   */
  async createServiceAccount(
    ctx: CommandContext,
    input: {
      displayName: string;
      scopes: readonly string[];
      serviceAccountId?: string;
      /** The client's idempotency key: a retry gets the same account (with a fresh secret, see below). */
      requestKey?: IdempotencyKey;
    },
  ): Promise<{ account: ServiceAccountView; clientSecret: string }> {
    const { store } = this.deps;
    const key = input.requestKey;
    const id =
      input.serviceAccountId?.trim() || (key ? idempotentResourceId(key, 'service-account') : newEventId());
    if (!RESOURCE_ID.test(id))
      throw new ValidationError([{ field: 'service_account_id', description: 'must match [a-z0-9-]{4,63}' }]);
    const request = key
      ? requestRecord(key, {
          displayName: input.displayName,
          scopes: [...input.scopes],
          serviceAccountId: input.serviceAccountId ?? '',
        })
      : undefined;
    const now = this.deps.now();
    if (request) {
      // A retry of a creation whose answer was lost: the same account. Its first secret is kept only as a hash
      // and cannot be shown again; the retry gets a new one (the first, never received, stops working).
      const replay = await replayOf(store, serviceAccountStream(id), serviceAccountDecider, request);
      if (replay)
        return {
          account: serviceAccountView(replay.state),
          clientSecret: await this.setSecret(ctx, id, now),
        };
    }
    const command: ServiceAccountCommand = {
      type: 'CreateServiceAccount',
      data: { serviceAccountId: id, displayName: input.displayName, scopes: input.scopes, now },
    };
    const { state: existing } = await load(store, serviceAccountStream(id), serviceAccountDecider);
    decideServiceAccount(command, existing); // validate before hashing and storing a secret
    // The account first: of two creations racing for one id, the second is refused having appended nothing.
    const { state } = await run(store, serviceAccountStream(id), serviceAccountDecider, command, {
      ...ctx,
      ...(request ? { request } : {}),
    });
    const clientSecret = await this.setSecret(ctx, id, now);
    await store.append(SERVICE_ACCOUNT_DIRECTORY_STREAM, 'any', [
      identityEvent('ServiceAccountListed', { serviceAccountId: id }, ctx),
    ]);
    return { account: serviceAccountView(state), clientSecret };
  }

  /** A new client secret for account `id`: stores its hash, expecting `expected` of the credential stream. */
  private async setSecret(
    ctx: CommandContext,
    id: string,
    now: number,
    expected: ExpectedRevision = 'any',
  ): Promise<string> {
    const clientSecret = randomSecret();
    const secretSet: CredentialEvent = {
      type: 'ClientSecretHashSet',
      data: {
        userId: serviceAccountCredentialId(id),
        hash: await this.deps.hasher.hash(clientSecret),
        at: new Date(now).toISOString(),
      },
    };
    await this.deps.credentialStore.append(ctx, serviceAccountCredentialId(id), [secretSet], expected);
    return clientSecret;
  }

  /** Reads a service account. Throws NotFoundError. */
  async getServiceAccount(id: string): Promise<ServiceAccountView> {
    if (!RESOURCE_ID.test(id)) throw new NotFoundError('service account not found');
    const { state } = await load(this.deps.store, serviceAccountStream(id), serviceAccountDecider);
    return serviceAccountView(state);
  }

  /** Lists service accounts in creation order. Throws ValidationError on a bad page size or token. */
  async listServiceAccounts(input: {
    pageSize?: number;
    pageToken?: string;
  }): Promise<{ accounts: ServiceAccountView[]; nextPageToken: string }> {
    const page = offsetPage(input, ['serviceAccounts'], { defaultSize: 50, maxSize: 100 });
    const ids = [
      ...new Set(
        (await this.deps.store.read(SERVICE_ACCOUNT_DIRECTORY_STREAM)).map((e) =>
          String(e.data['serviceAccountId']),
        ),
      ),
    ];
    const accounts: ServiceAccountView[] = [];
    for (const id of pageItems(page, ids)) accounts.push(await this.getServiceAccount(id));
    return { accounts, nextPageToken: nextOffsetToken(page, ids.length) };
  }

  /**
   * Replaces the client secret (returned once); the old secret stops working at once and every token issued
   * with it is revoked. Throws NotFoundError.
   */
  async rotateServiceAccountSecret(
    ctx: CommandContext,
    id: string,
  ): Promise<{ account: ServiceAccountView; clientSecret: string }> {
    const { credentialStore } = this.deps;
    const current = await this.getServiceAccount(id);
    const now = this.deps.now();
    const { revision } = await credentialStore.load(serviceAccountCredentialId(id));
    // Expecting the revision read above: of two rotations racing, only one secret is stored and answered.
    const clientSecret = await this.setSecret(ctx, id, now, revision);
    const { state } = await run(
      this.deps.store,
      serviceAccountStream(current.serviceAccountId),
      serviceAccountDecider,
      { type: 'RotateServiceAccountSecret', data: { now } },
      ctx,
    );
    await revokeSubject(this.deps, id, 'service_account', RevocationReason.SecretRotated);
    return { account: serviceAccountView(state), clientSecret };
  }

  /**
   * OAuth 2.0 client credentials: a 5-minute access token (`kind: service_account`, `scope` = the requested
   * scopes, all granted ones by default). Records ServiceAccountTokenIssued (token id and scopes only).
   * Throws UnauthenticatedError for an unknown client or wrong secret (same answer, similar time),
   * PermissionError when a requested scope is not granted, ResourceExhaustedError when the client address or the
   * client id is throttled.
   */
  async issueServiceAccountToken(
    input: ClientCredentialsInput & { clientIp: string },
  ): Promise<ServiceAccountToken> {
    const { throttle } = this.deps;
    const attempt = { address: input.clientIp, account: `service-account:${input.clientId}` };
    throttle.admit(attempt, 'token request');
    try {
      const issued = await this.clientCredentials(input);
      throttle.succeeded(attempt);
      return issued;
    } catch (error) {
      if (error instanceof UnauthenticatedError) throttle.failed(attempt);
      throw error;
    }
  }

  private async clientCredentials(input: ClientCredentialsInput): Promise<ServiceAccountToken> {
    const { store, hasher } = this.deps;
    const failed = new UnauthenticatedError('invalid client credentials');
    const id = input.clientId.trim();
    if (!RESOURCE_ID.test(id) || input.clientSecret.length === 0 || input.clientSecret.length > 256) {
      await hasher.verifyDummy(input.clientSecret.slice(0, 256));
      throw failed;
    }
    const { state } = await load(store, serviceAccountStream(id), serviceAccountDecider);
    const { state: cred } = await this.deps.credentialStore.load(serviceAccountCredentialId(id));
    if (state.status === 'none' || cred.clientSecretHash === null) {
      await hasher.verifyDummy(input.clientSecret);
      throw failed;
    }
    if (!(await hasher.verify(cred.clientSecretHash, input.clientSecret))) throw failed;
    const wanted = input.scopes.length > 0 ? [...new Set(input.scopes)] : [...state.scopes];
    const missing = wanted.filter((s) => !state.scopes.includes(s));
    if (missing.length > 0)
      throw new PermissionError(`scope not granted: ${missing.join(' ').slice(0, 200)}`);
    const access = await issueAccessToken(
      this.deps.keys,
      { sub: id, kind: 'service_account', scope: wanted.join(' ') },
      { now: this.deps.now(), ttlSec: SERVICE_ACCOUNT_TOKEN_TTL_SEC },
    );
    await store.append(`identity.service_account_tokens-${id}`, 'any', [
      newEvent({
        type: 'haven.identity.v1.ServiceAccountTokenIssued',
        data: {
          serviceAccountId: id,
          tokenId: access.jti,
          scopes: wanted,
          expiresAt: new Date(access.expiresAt).toISOString(),
        },
        actor: { kind: 'service_account', id },
        correlationId: input.correlationId,
      }),
    ]);
    return { accessToken: access.token, expiresAt: access.expiresAt, scopes: wanted };
  }
}

function serviceAccountView(state: ServiceAccountState): ServiceAccountView {
  if (state.status === 'none') throw new NotFoundError('service account not found');
  return {
    serviceAccountId: state.serviceAccountId,
    displayName: state.displayName,
    clientId: state.clientId,
    scopes: state.scopes,
    createdAt: state.createdAt,
    secretRotatedAt: state.secretRotatedAt,
  };
}
