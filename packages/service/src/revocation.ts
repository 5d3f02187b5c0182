/**
 * Token revocation pushed over NATS, so a logout, deactivation, role change, refresh-token reuse or idle
 * logoff takes effect at every service within seconds rather than at token expiry.
 *
 * The identity service publishes `haven.identity.v1.SessionRevoked` messages (JSON, see
 * {@link SessionRevoked}) on {@link REVOCATIONS_SUBJECT}; they are kept by the JetStream stream
 * {@link REVOCATIONS_STREAM} for {@link REVOCATION_RETENTION_MS} (longer than any token lives), so a
 * service that starts (or reconnects) replays every revocation still relevant before it answers calls.
 * {@link RevocationFeed} keeps them in a bounded in-memory set; `createJwtVerifier({ isRevoked })` and
 * `createVerifierFromConfig(config, { revocations })` refuse revoked principals.
 */
import {
  HavenStream,
  REVOCATION_RETENTION_MS,
  REVOCATIONS_STREAM,
  REVOCATIONS_SUBJECT,
  closeNatsConnection,
  connectNats,
  follow,
  jetStreamSource,
  verifyHavenStreams,
  type ConsumerHealth,
  type Follower,
  type NatsCredentials,
} from '@haven/eventstore';
import { JSONCodec, type JetStreamClient, type NatsConnection } from 'nats';
import { HavenError, UnavailableError } from '@haven/errors';
import type { Logger } from './logger';
import type { Principal } from './principal';

export { REVOCATION_RETENTION_MS, REVOCATIONS_STREAM, REVOCATIONS_SUBJECT };
/** The message type name (also the `Haven-Type` header). */
export const SESSION_REVOKED_TYPE = 'haven.identity.v1.SessionRevoked';

/** Why a session or subject was revoked. */
export const RevocationReason = {
  Logout: 'logout',
  Deactivated: 'deactivated',
  RoleChanged: 'role_changed',
  ReuseDetected: 'reuse_detected',
  Idle: 'idle',
  Absolute: 'absolute',
  MfaReset: 'mfa_reset',
  SecretRotated: 'secret_rotated',
  Revoked: 'revoked',
} as const;
/** One of {@link RevocationReason}. */
export type RevocationReason = (typeof RevocationReason)[keyof typeof RevocationReason];

/**
 * `haven.identity.v1.SessionRevoked`: with `sid`, every token of that session is refused; with only `sub`,
 * every token of that subject (of kind `subKind`, default `user`) issued at or before `revokedAt` is.
 */
export interface SessionRevoked {
  readonly sid: string;
  readonly sub: string;
  readonly subKind?: string;
  readonly reason: string;
  /** ISO-8601. */
  readonly revokedAt: string;
}

/**
 * True when `revocation` ends what `principal` holds open (a socket, a relay) with a token issued at
 * `issuedAtMs`: it names the principal's session (sid), or else its subject (kind and id), for tokens issued at
 * or before the revocation (any token when either time is unknown). Throws nothing.
 */
export function revocationCovers(
  revocation: SessionRevoked,
  principal: Principal,
  issuedAtMs?: number,
): boolean {
  if (revocation.sid !== '') return principal.sessionId === revocation.sid;
  const at = Date.parse(revocation.revokedAt);
  return (
    revocation.sub !== '' &&
    revocation.sub === principal.id &&
    (revocation.subKind ?? 'user') === principal.kind &&
    (issuedAtMs === undefined || !Number.isFinite(at) || issuedAtMs <= at)
  );
}

/** What the verifier knows of a token besides its principal. */
export interface TokenFacts {
  /** `iat`, seconds since the epoch. */
  readonly issuedAtSec?: number;
}

/** Options of {@link RevocationSet}. */
export interface RevocationSetOptions {
  /** How long an entry is kept, ms. Default {@link REVOCATION_RETENTION_MS}. */
  readonly ttlMs?: number;
  /** Most entries kept (oldest dropped first). Default 100 000. */
  readonly maxEntries?: number;
  readonly now?: () => number;
}

/** A bounded, expiring set of revoked sessions and subjects. Pure in-memory; throws nothing. */
export class RevocationSet {
  private readonly sids = new Map<string, number>();
  private readonly subs = new Map<string, { before: number; until: number }>();
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(options: RevocationSetOptions = {}) {
    this.ttlMs = options.ttlMs ?? REVOCATION_RETENTION_MS;
    this.maxEntries = options.maxEntries ?? 100_000;
    this.now = options.now ?? Date.now;
  }

  /** Entries held (expired ones may linger until the next add). */
  get size(): number {
    return this.sids.size + this.subs.size;
  }

  /** Records a revocation. Malformed input (no sid and no sub) is ignored. */
  add(revocation: SessionRevoked): void {
    const at = Date.parse(revocation.revokedAt);
    const revokedAt = Number.isFinite(at) ? at : this.now();
    const until = revokedAt + this.ttlMs;
    if (until <= this.now()) return;
    if (revocation.sid) {
      this.sids.delete(revocation.sid);
      this.sids.set(revocation.sid, until);
    } else if (revocation.sub) {
      const key = `${revocation.subKind ?? 'user'}:${revocation.sub}`;
      const previous = this.subs.get(key);
      this.subs.delete(key);
      this.subs.set(key, {
        before: Math.max(previous?.before ?? 0, revokedAt),
        until: Math.max(previous?.until ?? 0, until),
      });
    } else {
      return;
    }
    this.prune();
  }

  /** True when the principal's session, or its subject (for tokens issued at or before the revocation), is revoked. */
  isRevoked(principal: Principal, token: TokenFacts = {}): boolean {
    const now = this.now();
    if (principal.sessionId !== undefined) {
      const until = this.sids.get(principal.sessionId);
      if (until !== undefined && until > now) return true;
    }
    const sub = this.subs.get(`${principal.kind}:${principal.id}`);
    if (sub !== undefined && sub.until > now) {
      // Second granularity: a token issued in the same second as the revocation is refused too.
      if (token.issuedAtSec === undefined || token.issuedAtSec * 1000 <= sub.before) return true;
    }
    return false;
  }

  private prune(): void {
    const now = this.now();
    for (const map of [this.sids, this.subs] as const) {
      for (const [key, value] of map) {
        const until = typeof value === 'number' ? value : value.until;
        if (until > now) break; // insertion order ≈ expiry order
        map.delete(key);
      }
    }
    while (this.size > this.maxEntries) {
      const victim = this.sids.size >= this.subs.size ? this.sids : this.subs;
      const oldest = victim.keys().next();
      if (oldest.done) break;
      victim.delete(oldest.value);
    }
  }
}

/** NATS connection options shared by the feed and the publisher. */
export interface RevocationNatsOptions extends NatsCredentials {
  /** Client name. */
  readonly name?: string;
}

/** Options of {@link RevocationFeed.connect}. */
export interface RevocationFeedOptions extends RevocationNatsOptions, RevocationSetOptions {
  /** Longest wait for the retained revocations to be replayed, ms. Default 10 000. */
  readonly readyTimeoutMs?: number;
  readonly logger?: Logger;
  /** Where the feed reports its state (consumer `revocations`); a private registry when omitted. */
  readonly health?: ConsumerHealth;
}

const codec = JSONCodec<Partial<SessionRevoked> & { type?: string }>();

function connectRevocationNats(options: RevocationNatsOptions, defaultName: string): Promise<NatsConnection> {
  return connectNats({ ...options, name: options.name ?? defaultName }, 'revocations');
}

/**
 * Checks that the operator provisioned {@link REVOCATIONS_STREAM} (subject, max age
 * {@link REVOCATION_RETENTION_MS}, no roll-ups); a setting it lacks is logged. Throws StreamNotProvisionedError
 * when it does not exist, UnavailableError when JetStream does not answer.
 */
export async function verifyRevocationStream(nc: NatsConnection, logger?: Logger): Promise<void> {
  try {
    await verifyHavenStreams(await nc.jetstreamManager(), [HavenStream.Revocations], { log: logger });
  } catch (error) {
    if (error instanceof HavenError) throw error;
    throw new UnavailableError('cannot read the revocation stream', { cause: error });
  }
}

function parseRevocation(data: Uint8Array): SessionRevoked | undefined {
  try {
    const m = codec.decode(data);
    if (typeof m.sid !== 'string' || typeof m.sub !== 'string' || typeof m.revokedAt !== 'string')
      return undefined;
    return {
      sid: m.sid,
      sub: m.sub,
      reason: typeof m.reason === 'string' ? m.reason : 'revoked',
      revokedAt: m.revokedAt,
      ...(typeof m.subKind === 'string' ? { subKind: m.subKind } : {}),
    };
  } catch {
    return undefined;
  }
}

/**
 * Follows the revocation stream (every retained message, then live) and answers
 * {@link RevocationFeed.isRevoked} from memory. It is a self-healing follower: after a NATS stall, restart or
 * lost consumer it resumes after the last revocation it read, and reports `revocations` to the consumer
 * health (a service whose feed is down or behind is NOT_SERVING: it might accept a revoked token). Use one
 * per process.
 */
export class RevocationFeed {
  private readonly listeners = new Set<(revocation: SessionRevoked) => void>();
  private follower: Follower | undefined;
  private closed = false;

  private constructor(
    private readonly nc: NatsConnection,
    readonly revocations: RevocationSet,
    private readonly logger: Logger | undefined,
  ) {}

  /**
   * Connects, replays the revocations of the last {@link REVOCATION_RETENTION_MS} and resolves once they are in
   * memory; later ones arrive live. Throws StreamNotProvisionedError when the stream is missing,
   * UnavailableError when NATS cannot be reached or the replay does not finish within `readyTimeoutMs`.
   */
  static async connect(options: RevocationFeedOptions): Promise<RevocationFeed> {
    const nc = await connectRevocationNats(options, 'haven-revocations');
    const feed = new RevocationFeed(nc, new RevocationSet(options), options.logger);
    try {
      await feed.start(options.readyTimeoutMs ?? 10_000, options.health);
    } catch (error) {
      await feed.follower?.close();
      await nc.close().catch(() => undefined);
      if (error instanceof HavenError) throw error;
      throw new UnavailableError('cannot read revocations', { cause: error });
    }
    return feed;
  }

  private async start(readyTimeoutMs: number, health: ConsumerHealth | undefined): Promise<void> {
    await verifyRevocationStream(this.nc, this.logger);
    const jsm = await this.nc.jetstreamManager();
    this.follower = await follow(jetStreamSource(this.nc.jetstream(), jsm, REVOCATIONS_STREAM), {
      name: 'revocations',
      from: 'start',
      ...(health ? { health } : {}),
      ...(this.logger ? { logger: this.logger } : {}),
      handler: async (m) => {
        const revocation = parseRevocation(m.data);
        if (revocation) this.accept(revocation);
      },
    });
    await this.follower.caughtUp(readyTimeoutMs);
  }

  /** Records a revocation (as if received) and tells the listeners. */
  accept(revocation: SessionRevoked): void {
    this.revocations.add(revocation);
    for (const listener of this.listeners) {
      try {
        listener(revocation);
      } catch (error) {
        this.logger?.warn({ err: error }, 'revocation listener failed');
      }
    }
  }

  /** True when the principal (its session, or its subject for tokens issued at or before the revocation) is revoked. */
  isRevoked(principal: Principal, token: TokenFacts = {}): boolean {
    return this.revocations.isRevoked(principal, token);
  }

  /**
   * Calls `listener` for each revocation received from now on (e.g. the gateway closes that session's
   * sockets). Returns the unsubscribe function.
   */
  onRevoked(listener: (revocation: SessionRevoked) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Unsubscribes and closes the connection. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.listeners.clear();
    await this.follower?.close();
    await closeNatsConnection(this.nc);
  }
}

/** Publishes revocations (the identity service's side). */
export class RevocationPublisher {
  private constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly ownsConnection: boolean,
  ) {}

  /**
   * Connects and checks the stream. Throws StreamNotProvisionedError when it is missing,
   * UnavailableError when NATS or JetStream refuses.
   */
  static async connect(options: RevocationNatsOptions): Promise<RevocationPublisher> {
    const nc = await connectRevocationNats(options, 'haven-revocation-publisher');
    try {
      return await RevocationPublisher.open(nc, { ownsConnection: true });
    } catch (error) {
      await nc.close().catch(() => undefined);
      throw error;
    }
  }

  /**
   * Over an existing connection (closed by `close()` only when `ownsConnection`). Throws
   * StreamNotProvisionedError or UnavailableError like {@link RevocationPublisher.connect}.
   */
  static async open(nc: NatsConnection, options: { ownsConnection: boolean }): Promise<RevocationPublisher> {
    await verifyRevocationStream(nc);
    return new RevocationPublisher(nc, nc.jetstream(), options.ownsConnection);
  }

  /** Publishes one revocation and waits for JetStream's ack. Throws UnavailableError when it is not stored. */
  async publish(revocation: SessionRevoked): Promise<void> {
    try {
      await this.js.publish(REVOCATIONS_SUBJECT, codec.encode({ type: SESSION_REVOKED_TYPE, ...revocation }));
    } catch (error) {
      throw new UnavailableError('revocation not stored', { cause: error });
    }
  }

  /** Drains the connection when this publisher opened it. */
  async close(): Promise<void> {
    if (this.ownsConnection) await closeNatsConnection(this.nc);
  }
}
