/**
 * The clinic's retention policy for recordings: one aggregate, stream `recording.retention-policy`. How long a
 * recording is kept after it ended, and whether expired recordings are deleted automatically (crypto-shredded by
 * the daily sweep, reason RETENTION_EXPIRED). Pure: no I/O.
 */
import { ValidationError } from '@haven/errors';
import type { KnownRecording } from '../recording/recording';

export const RETENTION_STREAM = 'recording.retention-policy';
export const RetentionPolicyUpdatedType = 'haven.recording.v1.RetentionPolicyUpdated';

/** Seven years (365.25 days each): a common medical-records minimum. */
export const DEFAULT_RETENTION_SECONDS = 7 * 365.25 * 86_400;
const MAX_RETENTION_SECONDS = 100 * 365.25 * 86_400;

export interface RetentionPolicyUpdated {
  readonly type: typeof RetentionPolicyUpdatedType;
  readonly data: { readonly retentionSeconds: number; readonly autoDelete: boolean };
}

export interface RetentionPolicyState {
  readonly retentionSeconds: number;
  /** Off until an admin turns it on: nothing is deleted by default. */
  readonly autoDelete: boolean;
  readonly updateTime?: string;
}

export const initialRetentionPolicy: RetentionPolicyState = {
  retentionSeconds: DEFAULT_RETENTION_SECONDS,
  autoDelete: false,
};

export function evolveRetention(
  state: RetentionPolicyState,
  event: { type: string; data: unknown; occurredAt?: string },
): RetentionPolicyState {
  if (event.type !== RetentionPolicyUpdatedType) return state;
  const { retentionSeconds, autoDelete } = (event as RetentionPolicyUpdated).data;
  return { retentionSeconds, autoDelete, ...(event.occurredAt ? { updateTime: event.occurredAt } : {}) };
}

export interface UpdateRetentionPolicy {
  readonly type: 'UpdateRetentionPolicy';
  readonly data: { readonly retentionSeconds?: number; readonly autoDelete?: boolean };
}

/** Throws ValidationError on a period that is not 1 s – 100 years. Returns no event when nothing changes. */
export function decideRetention(
  command: UpdateRetentionPolicy,
  state: RetentionPolicyState,
): readonly RetentionPolicyUpdated[] {
  const retentionSeconds = command.data.retentionSeconds ?? state.retentionSeconds;
  if (
    !Number.isFinite(retentionSeconds) ||
    retentionSeconds < 1 ||
    retentionSeconds > MAX_RETENTION_SECONDS
  ) {
    throw new ValidationError([
      { field: 'retention_policy.retention_period', description: 'must be between 1 second and 100 years' },
    ]);
  }
  const autoDelete = command.data.autoDelete ?? state.autoDelete;
  if (retentionSeconds === state.retentionSeconds && autoDelete === state.autoDelete) return [];
  return [{ type: RetentionPolicyUpdatedType, data: { retentionSeconds, autoDelete } }];
}

/** When `recording` expires under `policy`: its end (or start) plus the period. */
export function expiryOf(recording: KnownRecording, policy: RetentionPolicyState): Date {
  const end = Date.parse(recording.stopTime ?? recording.startTime);
  return new Date(end + policy.retentionSeconds * 1000);
}

/** Whether the sweep deletes `recording` at `now`: auto-delete on, expired, not held, not in progress. */
export function isExpired(recording: KnownRecording, policy: RetentionPolicyState, now: Date): boolean {
  if (!policy.autoDelete) return false;
  if (recording.status !== 'available' && recording.status !== 'failed') return false;
  if (recording.legalHold) return false;
  return expiryOf(recording, policy).getTime() <= now.getTime();
}
