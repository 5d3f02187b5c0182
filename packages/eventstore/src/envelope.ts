/**
 * The event envelope of DESIGN.md §3. Every event Haven stores or publishes has this shape.
 * `data` never holds PHI; PHI fields travel only in `phi`, sealed with the patient's own data key.
 */
import type { SealedPhi } from '@haven/crypto';

/** PHI sealed with a patient's data key (declared by @haven/crypto, which seals and opens it). */
export type { SealedPhi };

/** Who caused an event: a user (with role), a patient or link-guest principal, a service account or a service. */
export interface Actor {
  readonly kind: 'user' | 'patient' | 'guest' | 'service_account' | 'service' | 'anonymous';
  /** Stable id: user id, patient principal id, service-account id or service name. */
  readonly id: string;
  /** Role for users (`admin`, `clinician`, `front_desk`, `auditor`); absent otherwise. */
  readonly role?: string;
}

/**
 * The client request an event answers, when the client gave an idempotency key (`request_id`, Google AIP-155):
 * stored with the events of the command so a retry with the same key finds them and gets the first result.
 * Never PHI: `id` is the client's key (a UUID) and `fingerprint` a hash of the request (keyed with the patient's
 * data key when the request carries PHI).
 */
export interface RequestRecord {
  /** The client's idempotency key. */
  readonly id: string;
  /** Identifies the request the key was first used with: a retry must carry the same. */
  readonly fingerprint: string;
}

/** What a caller hands to `append`: the envelope minus what the store assigns. */
export interface NewEvent<TType extends string = string, TData = Record<string, unknown>> {
  /** UUIDv7 (generate with `newEventId()`); also the idempotency key: a retried append never duplicates. */
  readonly id: string;
  /** Fully-qualified type, e.g. `haven.scheduling.v1.AppointmentBooked`. */
  readonly type: TType;
  /** ISO-8601 UTC. */
  readonly occurredAt: string;
  readonly actor: Actor;
  readonly correlationId: string;
  readonly causationId: string;
  /** W3C traceparent of the span that appended the event, when there was one. */
  readonly traceparent?: string;
  /** Non-PHI payload. */
  readonly data: TData;
  /** PHI payload, sealed; absent when the event carries none. */
  readonly phi?: SealedPhi;
  /** The idempotent request this event answers; absent when the client gave no key. */
  readonly request?: RequestRecord;
}

/** A stored event: the appended one plus where the store put it. */
export interface EventEnvelope<
  TType extends string = string,
  TData = Record<string, unknown>,
> extends NewEvent<TType, TData> {
  /** `<context>.<aggregate>-<id>`, e.g. `scheduling.appointment-01J…`. */
  readonly stream: string;
  /** 0-based revision within the stream. */
  readonly revision: bigint;
}
