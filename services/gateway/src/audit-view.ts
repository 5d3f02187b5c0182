/**
 * The audit ledger's JSON as the ledger page reads it (`GET /api/audit/head`, `GET /api/audit/events`), and the
 * patient's own access log (`GET /api/patient/access-log`). Types only
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

/** One read of the patient's record as their own access log shows it (`GET /api/patient/access-log`). */
export interface AccessLogEntryView {
  readonly time: string | null;
  /** The accessor's role (`clinician`, `front_desk`, …, `patient`, `service_account`). */
  readonly role: string;
  /** The accessor's display name; empty when audit has none. */
  readonly name: string;
  /** The kind of resource read: `patients`, `appointments`, `recordings`, … */
  readonly resource: string;
  readonly fields: readonly string[];
  /** The purpose in the patient's words (`treatment`, `your request`, …), `other` for anything else. */
  readonly purpose: string;
  /** `granted`, `denied`, `failed` or `other`. */
  readonly outcome: string;
  readonly breakGlass: boolean;
}

/** `GET /api/patient/access-log` */
export interface AccessLogView {
  readonly entries: readonly AccessLogEntryView[];
}
