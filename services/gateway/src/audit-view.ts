/**
 * The audit ledger's JSON as the ledger page reads it (`GET /api/audit/head`, `GET /api/audit/events`). Types only
 * and no imports: the browser app (web/src/staff/types.ts) imports this file as well, so each wire shape has one
 * definition.
 */

/** The signed tree head. */
export interface LedgerHeadView {
  readonly treeSize: number;
  /** Hex. */
  readonly rootHash: string;
  readonly signedAt: string | null;
  readonly keyId: string;
  readonly algorithm: string;
}

/** An audit event as the ledger page lists it: who (role, id), what (the resource), and the patient. */
export interface LedgerEntryView {
  readonly id: string;
  readonly leafIndex: number;
  /** The event type without the `haven.` prefix. */
  readonly type: string;
  readonly occurredAt: string | null;
  /** The actor's role for staff, their id otherwise; empty when there is none. */
  readonly actor: string;
  /** The actor's id (user, patient or service). */
  readonly actorId: string;
  /** What the entry is about, e.g. `recordings/<id>` for a recording viewed; empty when not known. */
  readonly subject: string;
  /** The patient's id; empty when the entry is about none. */
  readonly patientId: string;
  /** Hex. */
  readonly leafHash: string;
}

/** One page of the ledger, newest first. */
export interface LedgerPageView {
  readonly events: readonly LedgerEntryView[];
  /** Empty on the last page. */
  readonly nextPageToken: string;
}
