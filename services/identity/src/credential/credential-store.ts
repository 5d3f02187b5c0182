/**
 * Reads and writes the Credential aggregate (`identity.credential-<principal>`): a principal's secrets.
 *
 * Appends take the revision the caller loaded, so two commands racing on the same secrets (two enrollments, two
 * confirmations, two password changes, a TOTP code or recovery code used twice at once) cannot both write: the
 * loser gets a ConcurrencyError (ABORTED) having appended nothing.
 */
import { newEvent, type EventStore, type ExpectedRevision } from '@haven/eventstore';
import type { CommandContext } from '../app/streams';
import {
  credentialStream,
  evolveCredential,
  initialCredentialState,
  type CredentialEvent,
  type CredentialState,
} from './credential';
import { EVENT_TYPE_PREFIX } from '../app/streams';

/** A loaded credential aggregate: its state and the revision the next append must expect. */
export interface LoadedCredentials {
  readonly state: CredentialState;
  readonly revision: ExpectedRevision;
}

/** The Credential aggregate over the event store. */
export class CredentialStore {
  constructor(private readonly store: EventStore) {}

  /** Folds `identity.credential-<principalId>`. Rejects when the store does. */
  async load(principalId: string): Promise<LoadedCredentials> {
    const events = await this.store.read(credentialStream(principalId));
    let state = initialCredentialState;
    for (const e of events) {
      state = evolveCredential(state, {
        type: e.type.slice(EVENT_TYPE_PREFIX.length),
        data: e.data,
      } as CredentialEvent);
    }
    const last = events.at(-1);
    return { state, revision: last ? last.revision : 'no_stream' };
  }

  /**
   * Appends `events` atomically to the principal's credential stream, expecting `expected` (the revision the
   * command loaded; `'any'` only where no race can matter). Throws ConcurrencyError when the stream moved on.
   */
  async append(
    ctx: CommandContext,
    principalId: string,
    events: readonly CredentialEvent[],
    expected: ExpectedRevision,
  ): Promise<void> {
    if (events.length === 0) return;
    await this.store.append(
      credentialStream(principalId),
      expected,
      events.map((event) =>
        newEvent({
          type: `${EVENT_TYPE_PREFIX}${event.type}`,
          data: event.data,
          actor: ctx.actor,
          correlationId: ctx.correlationId,
          ...(ctx.traceparent !== undefined ? { traceparent: ctx.traceparent } : {}),
        }),
      ),
    );
  }
}
