/**
 * Reads and writes the Credential aggregate (`identity.credential-<principal>`): a principal's secrets.
 *
 * Secrets are stored sealed (see SecretSealer): a stored event keeps its non-secret fields in `data` and the secret
 * ones in `data.sealed` (the PHI envelope: subject, key id, AES-256-GCM ciphertext). Reading opens them; an event
 * whose key was destroyed (an enrollment reset or replaced) is skipped; an event written before sealing, with its
 * secret in the clear, is never read as a secret (it is counted in `plaintextEvents` for the migration,
 * reseal-plaintext.ts).
 *
 * Appends take the revision the caller loaded, so two commands racing on the same secrets (two enrollments, two
 * confirmations, two password changes, a TOTP code or recovery code used twice at once) cannot both write: the
 * loser gets a ConcurrencyError (ABORTED) having appended nothing.
 */
import { type EventStore, type ExpectedRevision } from '@haven/eventstore';
import type { SealedPhi } from '@haven/crypto';
import { EVENT_TYPE_PREFIX, identityEvent, type CommandContext } from '../shared/streams';
import {
  credentialStream,
  evolveCredential,
  initialCredentialState,
  type CredentialEvent,
  type CredentialState,
} from './credential';
import { credentialSubject, totpSubject, type SecretSealer } from './secret-sealer';

/** A loaded credential aggregate: its state and the revision the next append must expect. */
export interface LoadedCredentials {
  readonly state: CredentialState;
  readonly revision: ExpectedRevision;
  /** Events written before secrets were sealed (their secrets are ignored). */
  readonly plaintextEvents: number;
}

type Data = Record<string, unknown>;

const isSealed = (value: unknown): value is SealedPhi =>
  typeof value === 'object' &&
  value !== null &&
  typeof (value as SealedPhi).subject === 'string' &&
  typeof (value as SealedPhi).keyId === 'string' &&
  typeof (value as SealedPhi).ciphertext === 'string';

/** Fields each event type keeps sealed (absent: nothing secret). */
const SECRET_FIELDS: Readonly<Record<string, readonly string[]>> = {
  PasswordHashSet: ['hash'],
  ClientSecretHashSet: ['hash'],
  TotpSecretIssued: ['secret'],
  RecoveryCodesIssued: ['hashes'],
};

/** True for a stored event written before sealing: a secret field in the clear and nothing sealed. */
export function holdsPlaintextSecret(type: string, data: Data): boolean {
  const fields = SECRET_FIELDS[type];
  return fields !== undefined && !isSealed(data['sealed']) && fields.some((f) => data[f] !== undefined);
}

/** The Credential aggregate over the event store, secrets sealed. */
export class CredentialStore {
  constructor(
    private readonly store: EventStore,
    private readonly sealer: SecretSealer,
  ) {}

  /** Folds `identity.credential-<principalId>`, opening sealed secrets. Rejects when the store or KMS does. */
  async load(principalId: string): Promise<LoadedCredentials> {
    const events = await this.store.read(credentialStream(principalId));
    let state = initialCredentialState;
    let plaintextEvents = 0;
    for (const e of events) {
      const type = e.type.slice(EVENT_TYPE_PREFIX.length);
      const opened = await this.open(type, e.data);
      if (opened === 'plaintext') plaintextEvents += 1;
      if (opened === 'plaintext' || opened === 'shredded') continue;
      state = evolveCredential(state, { type, data: opened } as CredentialEvent);
    }
    const last = events.at(-1);
    return { state, revision: last ? last.revision : 'no_stream', plaintextEvents };
  }

  /**
   * Seals the secrets of `events` and appends them atomically to the principal's credential stream, expecting
   * `expected` (the revision the command loaded; `'any'` only where no race can matter). Throws ConcurrencyError
   * when the stream moved on.
   */
  async append(
    ctx: CommandContext,
    principalId: string,
    events: readonly CredentialEvent[],
    expected: ExpectedRevision,
  ): Promise<void> {
    if (events.length === 0) return;
    const stored = [];
    for (const event of events) {
      stored.push(identityEvent(event.type, await this.seal(principalId, event), ctx));
    }
    await this.store.append(credentialStream(principalId), expected, stored);
  }

  /** Destroys the key of one TOTP enrollment (its secret and recovery codes become unreadable everywhere). */
  async shredEnrollment(principalId: string, enrollmentId: string): Promise<void> {
    await this.sealer.destroy(totpSubject(principalId, enrollmentId));
  }

  private async seal(principalId: string, event: CredentialEvent): Promise<Data> {
    if (event.type === 'CredentialsResealed') {
      const { passwordHash, passwordSetAt, history, clientSecretHash, totp, ...rest } = event.data;
      return {
        ...rest,
        exposed: true,
        passwordSetAt,
        sealedCredential: await this.sealer.seal(credentialSubject(principalId), {
          passwordHash,
          history,
          clientSecretHash,
        }),
        ...(totp
          ? {
              enrollmentId: totp.enrollmentId,
              totpConfirmed: totp.confirmed,
              sealedTotp: await this.sealer.seal(totpSubject(principalId, totp.enrollmentId), {
                secret: totp.secret,
                recoveryCodeHashes: totp.recoveryCodeHashes,
              }),
            }
          : {}),
      };
    }
    const secretFields = SECRET_FIELDS[event.type];
    if (!secretFields) return event.data;
    const data = event.data as Data;
    const plain: Data = {};
    const secret: Data = {};
    for (const [k, v] of Object.entries(data)) (secretFields.includes(k) ? secret : plain)[k] = v;
    const subject =
      event.type === 'TotpSecretIssued' || event.type === 'RecoveryCodesIssued'
        ? totpSubject(principalId, String(data['enrollmentId']))
        : credentialSubject(principalId);
    if (event.type === 'RecoveryCodesIssued') plain['count'] = (data['hashes'] as unknown[]).length;
    return { ...plain, sealed: await this.sealer.seal(subject, secret) };
  }

  /** The opened data of a stored event, or why there is none. */
  private async open(type: string, data: Data): Promise<Data | 'plaintext' | 'shredded'> {
    if (type === 'CredentialsResealed') {
      if (!isSealed(data['sealedCredential'])) return 'plaintext';
      const credential = await this.sealer.open(data['sealedCredential']);
      const totp = isSealed(data['sealedTotp']) ? await this.sealer.open(data['sealedTotp']) : undefined;
      return {
        userId: data['userId'],
        at: data['at'],
        passwordSetAt: data['passwordSetAt'] ?? null,
        passwordHash: credential?.['passwordHash'] ?? null,
        history: credential?.['history'] ?? [],
        clientSecretHash: credential?.['clientSecretHash'] ?? null,
        totp: totp
          ? {
              enrollmentId: data['enrollmentId'],
              secret: totp['secret'],
              confirmed: data['totpConfirmed'] === true,
              recoveryCodeHashes: totp['recoveryCodeHashes'],
            }
          : null,
      };
    }
    if (!SECRET_FIELDS[type]) return data;
    if (!isSealed(data['sealed'])) return 'plaintext';
    const secret = await this.sealer.open(data['sealed']);
    if (secret === undefined) return 'shredded';
    const { sealed: _sealed, count: _count, ...plain } = data;
    return { ...plain, ...secret };
  }
}
