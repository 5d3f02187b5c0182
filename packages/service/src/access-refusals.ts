import type { EventStore } from '@haven/eventstore';
import { newEvent } from '@haven/eventstore';
import type { AccessRefusal } from './grpc-server';
import type { Logger } from './logger';

/** Event type of a refused call. */
export const ACCESS_REFUSED = 'haven.security.v1.AccessRefused';
/** Event type summarising refusals dropped by the rate cap. */
export const ACCESS_REFUSALS_SUPPRESSED = 'haven.security.v1.AccessRefusalsSuppressed';

/** Options of {@link createAccessRefusalRecorder}. */
export interface AccessRefusalRecorderOptions {
  readonly store: Pick<EventStore, 'append'>;
  /** The service name, part of the stream name and the event actor. */
  readonly service: string;
  readonly logger?: Logger;
  /** Refusals recorded one by one per minute; the rest are counted in one summary event (default 60). */
  readonly maxPerMinute?: number;
  readonly now?: () => Date;
}

/**
 * Records every refused call (bad, expired, revoked or missing token; access policy) as an event on
 * `security.refusals-<service>-<yyyymmddhh>` — an attack leaves a trace in the audit log. A flood cannot fill the
 * store: past `maxPerMinute` in a minute the rest are counted and recorded once as a summary. Appends run in
 * the background, in order; a failed append is logged, never thrown.
 */
export function createAccessRefusalRecorder(options: AccessRefusalRecorderOptions): {
  record(this: void, refusal: AccessRefusal): void;
  /** Resolves when every pending append finished (shutdown, tests). */
  flush(this: void): Promise<void>;
} {
  const max = options.maxPerMinute ?? 60;
  const now = options.now ?? (() => new Date());
  let minute = '';
  let recorded = 0;
  let suppressed = 0;
  let queue: Promise<void> = Promise.resolve();
  const streamOf = (at: Date) =>
    `security.refusals-${options.service}-${at.toISOString().slice(0, 13).replace(/[-T]/g, '')}`;
  const append = (type: string, data: Record<string, unknown>, at: Date, correlationId?: string) => {
    const event = newEvent({
      type,
      data,
      actor: { kind: 'service', id: options.service },
      ...(correlationId ? { correlationId } : {}),
    });
    queue = queue
      .then(async () => {
        await options.store.append(streamOf(at), 'any', [event]);
      })
      .catch((error: unknown) => options.logger?.warn({ err: error }, 'access refusal not recorded'));
  };
  return {
    record(refusal) {
      const at = now();
      const thisMinute = at.toISOString().slice(0, 16);
      if (thisMinute !== minute) {
        if (suppressed > 0) append(ACCESS_REFUSALS_SUPPRESSED, { count: suppressed, minute }, at);
        minute = thisMinute;
        recorded = 0;
        suppressed = 0;
      }
      if (recorded >= max) {
        suppressed += 1;
        return;
      }
      recorded += 1;
      append(
        ACCESS_REFUSED,
        {
          method: refusal.method,
          kind: refusal.kind,
          reason: refusal.reason,
          ...(refusal.principal
            ? {
                principalKind: refusal.principal.kind,
                principalId: refusal.principal.id,
                ...(refusal.principal.role ? { role: refusal.principal.role } : {}),
              }
            : {}),
        },
        at,
        refusal.correlationId,
      );
    },
    flush: () => queue,
  };
}
