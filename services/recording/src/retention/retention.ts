/**
 * Get/UpdateRetentionPolicy and the retention sweep: on an interval (daily by default) every AVAILABLE or FAILED
 * recording past the clinic's retention period, not under legal hold, is deleted (crypto-shredded) with reason
 * RETENTION_EXPIRED — only when the policy's auto-delete is on.
 */
import { ConcurrencyError, PermissionError, ValidationError, isCategory, ErrorCategory } from '@haven/errors';
import type { EventStore } from '@haven/eventstore';
import type { recording } from '@haven/proto';
import {
  commandMetadata,
  handleCommand,
  loadAggregate,
  requirePrincipal,
  type CallContext,
  type Logger,
} from '@haven/service';
import { DeletionReason } from '../recording/access';
import type { RecordingProjection } from '../recording/projection';
import { serviceMetadata } from '../recording/recordings';
import { deleteRecording, finishShredding, type PlaybackDeps } from '../playback/grpc';
import { finishBlockedErasures } from './erasure';
import {
  RETENTION_STREAM,
  decideRetention,
  evolveRetention,
  initialRetentionPolicy,
  isExpired,
  type RetentionPolicyState,
} from './policy';

export class RetentionPolicies {
  constructor(private readonly store: EventStore) {}

  /** The policy and its etag. */
  async load(): Promise<{ state: RetentionPolicyState; etag: string }> {
    const loaded = await loadAggregate({
      store: this.store,
      stream: RETENTION_STREAM,
      evolve: evolveRetention,
      initialState: initialRetentionPolicy,
    });
    return { state: loaded.state, etag: String(loaded.expectedRevision) };
  }
}

function toProto(state: RetentionPolicyState, etag: string): recording.RetentionPolicy {
  return {
    name: 'retentionPolicy',
    retentionPeriod: { seconds: String(Math.round(state.retentionSeconds)), nanos: 0 },
    autoDelete: state.autoDelete,
    updateTime: state.updateTime ? new Date(state.updateTime) : undefined,
    etag,
  };
}

function requireAdmin(ctx: CallContext): void {
  const p = requirePrincipal(ctx);
  if (p.kind !== 'user' || p.role !== 'admin') throw new PermissionError('only an admin may do this');
}

const PATHS = new Set(['retention_period', 'auto_delete']);

/** The retention RPC handlers by ts-proto method key. */
export function retentionHandlers(deps: { store: EventStore; policies: RetentionPolicies }) {
  return {
    async getRetentionPolicy(
      _request: recording.GetRetentionPolicyRequest,
      ctx: CallContext,
    ): Promise<recording.GetRetentionPolicyResponse> {
      requireAdmin(ctx);
      const { state, etag } = await deps.policies.load();
      return { retentionPolicy: toProto(state, etag) };
    },
    async updateRetentionPolicy(
      request: recording.UpdateRetentionPolicyRequest,
      ctx: CallContext,
    ): Promise<recording.UpdateRetentionPolicyResponse> {
      requireAdmin(ctx);
      const policy = request.retentionPolicy;
      if (!policy) throw new ValidationError([{ field: 'retention_policy', description: 'is required' }]);
      const paths: readonly string[] = request.updateMask ?? [];
      const unknown = paths.filter((p) => !PATHS.has(p));
      if (unknown.length > 0) {
        throw new ValidationError([{ field: 'update_mask', description: `unknown path ${unknown[0]}` }]);
      }
      const all = paths.length === 0;
      const period = policy.retentionPeriod;
      if ((all || paths.includes('retention_period')) && !period) {
        throw new ValidationError([
          { field: 'retention_policy.retention_period', description: 'is required' },
        ]);
      }
      if (policy.etag !== '') {
        const { etag } = await deps.policies.load();
        if (etag !== policy.etag) throw new ConcurrencyError(RETENTION_STREAM, policy.etag, etag);
      }
      const r = await handleCommand({
        store: deps.store,
        stream: RETENTION_STREAM,
        decide: decideRetention,
        evolve: evolveRetention,
        initialState: initialRetentionPolicy,
        command: {
          type: 'UpdateRetentionPolicy',
          data: {
            ...((all || paths.includes('retention_period')) && period
              ? { retentionSeconds: Number(period.seconds) + period.nanos / 1e9 }
              : {}),
            ...(all || paths.includes('auto_delete') ? { autoDelete: policy.autoDelete } : {}),
          },
        },
        metadata: commandMetadata(ctx),
      });
      return { retentionPolicy: toProto(r.state, String(r.nextRevision)) };
    },
  };
}

/**
 * Runs one sweep: finishes the shredding of DELETED recordings this process has not finished yet (a crash
 * between `RecordingDeleted` and destroying the key) and of erased patients' recordings nothing blocks any
 * more, then deletes what expired. Resolves with the ids
 * deleted. Never rejects.
 */
export async function sweepExpired(
  deps: Pick<PlaybackDeps, 'recordings' | 'objects' | 'keys'> & {
    readonly policies: RetentionPolicies;
    readonly projection: RecordingProjection;
    readonly logger: Logger;
    readonly now?: Date;
    /** Ids whose key and object this process already destroyed (kept across sweeps). */
    readonly shredded?: Set<string>;
  },
): Promise<string[]> {
  const deleted: string[] = [];
  try {
    for (const r of deps.projection.all()) {
      if (r.status !== 'deleted' || deps.shredded?.has(r.recordingId)) continue;
      await finishShredding(deps, r);
      deps.shredded?.add(r.recordingId);
    }
    const now = deps.now ?? new Date();
    // An erased patient's recording that a hold or unfinished processing kept: shredded once nothing does.
    for (const id of await finishBlockedErasures(deps, now)) {
      deleted.push(id);
      deps.shredded?.add(id);
    }
    const { state: policy } = await deps.policies.load();
    if (!policy.autoDelete) return deleted;
    for (const r of deps.projection.all()) {
      if (!isExpired(r, policy, now)) continue;
      try {
        await deleteRecording(
          deps,
          r.recordingId,
          DeletionReason.RetentionExpired,
          serviceMetadata(`sweep-${now.toISOString()}`),
        );
        deleted.push(r.recordingId);
        deps.shredded?.add(r.recordingId);
      } catch (error) {
        // Held or deleted meanwhile (another replica's sweep, an admin): the next sweep sees the new state.
        if (!isCategory(error, ErrorCategory.Precondition)) throw error;
      }
    }
    if (deleted.length > 0) deps.logger.info({ count: deleted.length }, 'retention sweep deleted recordings');
  } catch (error) {
    deps.logger.warn({ err: error }, 'retention sweep failed; retried at the next interval');
  }
  return deleted;
}

/** Sweeps every `intervalMs` (first run after one interval). Returns the stopper. */
export function startRetentionSweep(
  deps: Parameters<typeof sweepExpired>[0],
  intervalMs: number,
): () => Promise<void> {
  let running: Promise<unknown> | undefined;
  const shredded = new Set<string>();
  const timer = setInterval(() => {
    running ??= sweepExpired({ ...deps, shredded }).finally(() => (running = undefined));
  }, intervalMs);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
