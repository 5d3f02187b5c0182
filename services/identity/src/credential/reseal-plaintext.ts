/**
 * The migration of credential streams written before secrets were sealed (docs/adr/0006-secrets-out-of-events.md).
 * Events are immutable, so the plaintext stays in the store; what changes is that it is never read as a secret
 * again: CredentialStore skips plaintext secret fields, and this migration appends, once per stream, a
 * `CredentialsResealed` event holding the secrets those events carried — sealed, marked `exposed` — so the users
 * keep signing in (and keep their second factor: no window in which a password alone enrols a new one). The
 * exposed TOTP secrets and recovery codes should still be replaced (`haven mfa reset`); the migration logs whose.
 * Run at identity's start, before it serves; idempotent, and safe with two identity processes (the append expects
 * the revision it read).
 */
import { isCategory, ErrorCategory } from '@haven/errors';
import { newEventId, type EventStore } from '@haven/eventstore';
import type { Logger } from '@haven/service';
import { EVENT_TYPE_PREFIX, USER_DIRECTORY_STREAM } from '../shared/streams';
import {
  SERVICE_ACCOUNT_DIRECTORY_STREAM,
  serviceAccountCredentialId,
} from '../service-account/service-account';
import {
  credentialStream,
  evolveCredential,
  initialCredentialState,
  type CredentialEvent,
} from './credential';
import { holdsPlaintextSecret, type CredentialStore } from './credential-store';

/** What the migration did. */
export interface ResealReport {
  /** Credential streams looked at. */
  readonly streams: number;
  /** Principals whose plaintext secrets were resealed (now marked exposed). */
  readonly resealed: readonly string[];
  /** Of those, principals with an exposed TOTP secret (reset their MFA). */
  readonly exposedTotp: readonly string[];
}

async function principals(store: EventStore): Promise<string[]> {
  const users = (await store.read(USER_DIRECTORY_STREAM)).map((e) => String(e.data['userId']));
  const accounts = (await store.read(SERVICE_ACCOUNT_DIRECTORY_STREAM)).map((e) =>
    serviceAccountCredentialId(String(e.data['serviceAccountId'])),
  );
  return [...new Set([...users, ...accounts])];
}

/** Reseals every credential stream that still depends on plaintext secrets. Rejects when the store does. */
export async function resealPlaintextCredentials(options: {
  readonly store: EventStore;
  readonly credentials: CredentialStore;
  readonly now?: () => number;
  readonly logger?: Logger;
}): Promise<ResealReport> {
  const now = options.now ?? Date.now;
  const ids = await principals(options.store);
  const resealed: string[] = [];
  const exposedTotp: string[] = [];
  for (const principalId of ids) {
    // Decided on the stored events alone (no key is opened): sealed streams are left alone.
    const raw = await options.store.read(credentialStream(principalId));
    const plaintext = raw.some((e) => holdsPlaintextSecret(e.type.slice(EVENT_TYPE_PREFIX.length), e.data));
    if (!plaintext || raw.some((e) => e.type === `${EVENT_TYPE_PREFIX}CredentialsResealed`)) continue;
    const revision = raw.at(-1)!.revision;
    // The one place plaintext is read: the events as the old code wrote and folded them.
    let legacy = initialCredentialState;
    for (const e of raw) {
      legacy = evolveCredential(legacy, {
        type: e.type.slice(EVENT_TYPE_PREFIX.length),
        data: e.data,
      } as CredentialEvent);
    }
    const event: CredentialEvent = {
      type: 'CredentialsResealed',
      data: {
        userId: principalId,
        passwordHash: legacy.passwordHash,
        passwordSetAt: legacy.passwordSetAt === null ? null : new Date(legacy.passwordSetAt).toISOString(),
        history: [...legacy.history],
        clientSecretHash: legacy.clientSecretHash,
        totp:
          legacy.totpSecret === null
            ? null
            : {
                enrollmentId: newEventId(),
                secret: legacy.totpSecret,
                confirmed: legacy.totpConfirmed,
                recoveryCodeHashes: [...legacy.recoveryCodeHashes],
              },
        at: new Date(now()).toISOString(),
      },
    };
    try {
      await options.credentials.append(
        { actor: { kind: 'service', id: 'identity' }, correlationId: newEventId() },
        principalId,
        [event],
        revision,
      );
    } catch (error) {
      if (isCategory(error, ErrorCategory.Conflict)) continue; // another identity process got there first
      throw error;
    }
    resealed.push(principalId);
    if (legacy.totpSecret !== null) exposedTotp.push(principalId);
  }
  if (resealed.length > 0) {
    options.logger?.warn(
      { resealed: resealed.length, exposedTotp },
      'credential secrets written in the clear before sealing were resealed; reset the MFA of these users',
    );
  }
  return { streams: ids.length, resealed, exposedTotp };
}
