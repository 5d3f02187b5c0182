/**
 * The fault suite's checker: what clients were told (the load driver's journal) against what the store holds
 * (read with a plain NATS client) and, when the audit service ran, what its ledger holds.
 *
 * - every acknowledged operation exists exactly once, as the answer said;
 * - an operation answered with a final error left nothing (a rejected command appends nothing);
 * - an operation whose retries ran out left nothing or the whole thing, never a part;
 * - no operation registered, booked or cancelled twice (duplicates, by correlation id);
 * - no orphan slot reservation and no half booking anywhere in the scheduling context;
 * - when the session service ran, every booking that was not cancelled has its visit, no cancelled one's is open;
 * - the ledger holds every stored event exactly once and nothing else.
 */
import { checkScheduling, checkVisits, type LoggedEvent } from '@haven/testing';
import type { Operation, OperationKind } from './load-driver';

const EVENT_OF: Record<OperationKind, string> = {
  createPatient: 'haven.scheduling.v1.PatientRegistered',
  bookAppointment: 'haven.scheduling.v1.AppointmentBooked',
  cancelAppointment: 'haven.scheduling.v1.AppointmentCancelled',
};

/** The numbers of a run, and every problem found (empty on success). */
export interface FaultReport {
  readonly operations: number;
  readonly acknowledged: number;
  readonly refused: number;
  readonly gaveUp: number;
  /** Attempts beyond the first, over all operations. */
  readonly retries: number;
  /** Operations with more than one result event. */
  readonly duplicatesFound: number;
  /** Slots held for appointments that do not exist or were cancelled. */
  readonly orphansFound: number;
  /** Booked appointments whose slot is not held. */
  readonly halfBookingsFound: number;
  /** Acknowledged operations whose result is not in the store. */
  readonly lostFound: number;
  /** Operations refused with a final error whose result is in the store anyway. */
  readonly phantomsFound: number;
  /** Visits vs bookings, when the session service ran. */
  readonly visits?: { readonly opened: number; readonly missing: number; readonly openAfterCancel: number };
  /** Ledger vs store, when the audit service ran. */
  readonly ledger?: {
    readonly entries: number;
    readonly missing: number;
    readonly extra: number;
    readonly repeated: number;
  };
  readonly storedEvents: number;
  readonly problems: readonly string[];
}

const idOf = (name: string | undefined): string => name?.slice(name.indexOf('/') + 1) ?? '';

/**
 * Checks a run. `events` is the whole store (read after the load, the settle time and the ledger), `ledger`
 * the event ids the audit ledger holds in ledger order and the store sequence it must have caught up with
 * (undefined when no audit service ran). Pure; throws nothing.
 */
export function checkFaultRun(
  journal: readonly Operation[],
  events: readonly LoggedEvent[],
  ledger?: { readonly ids: readonly string[]; readonly upToSeq: number },
  options: { readonly visits?: boolean } = {},
): FaultReport {
  const problems: string[] = [];
  const byCorrelation = new Map<string, LoggedEvent[]>();
  for (const e of events)
    byCorrelation.set(e.correlationId, [...(byCorrelation.get(e.correlationId) ?? []), e]);

  let duplicates = 0;
  let lost = 0;
  let phantoms = 0;
  for (const op of journal) {
    const results = (byCorrelation.get(op.correlationId) ?? []).filter((e) => e.type === EVENT_OF[op.kind]);
    if (results.length > 1) {
      duplicates += 1;
      problems.push(`${op.kind} ${op.requestId}: ${results.length} ${EVENT_OF[op.kind]} (duplicate)`);
    }
    if (op.outcome === 'ok') {
      const named = idOf(op.result);
      const matches = results.filter((e) =>
        op.kind === 'createPatient'
          ? e.stream === `scheduling.patient-${named}`
          : e.data['appointmentId'] === named,
      );
      if (matches.length !== 1) {
        lost += 1;
        problems.push(
          `${op.kind} ${op.requestId}: acknowledged ${op.result ?? '?'} but stored ${matches.length} times`,
        );
      }
    } else if (op.outcome === 'refused' && results.length > 0) {
      phantoms += 1;
      problems.push(
        `${op.kind} ${op.requestId}: answered status ${op.finalCode ?? '?'} but stored (phantom)`,
      );
    }
  }

  const scheduling = checkScheduling(events);
  for (const o of scheduling.orphanReservations) problems.push(`orphan reservation ${o}`);
  for (const h of scheduling.halfBookings) problems.push(`half booking ${h}`);

  let visitReport: FaultReport['visits'];
  if (options.visits) {
    const visits = checkVisits(events);
    visitReport = {
      opened: visits.counts.opened,
      missing: visits.missingVisits.length,
      openAfterCancel: visits.openAfterCancel.length,
    };
    for (const id of visits.missingVisits)
      problems.push(`appointment ${id} booked but its visit never opened`);
    for (const id of visits.openAfterCancel)
      problems.push(`appointment ${id} cancelled but its visit is open`);
  }

  let ledgerReport: FaultReport['ledger'];
  if (ledger) {
    const inLedger = new Map<string, number>();
    for (const id of ledger.ids) inLedger.set(id, (inLedger.get(id) ?? 0) + 1);
    const stored = new Set(events.map((e) => e.id));
    const missing = events.filter((e) => e.seq <= ledger.upToSeq && !inLedger.has(e.id));
    const extra = [...inLedger.keys()].filter((id) => !stored.has(id));
    const repeated = [...inLedger].filter(([, n]) => n > 1);
    ledgerReport = {
      entries: ledger.ids.length,
      missing: missing.length,
      extra: extra.length,
      repeated: repeated.length,
    };
    if (missing.length > 0)
      problems.push(`ledger misses ${missing.length} stored events (first ${missing[0]!.id})`);
    if (extra.length > 0)
      problems.push(`ledger holds ${extra.length} events the store does not (first ${extra[0]})`);
    if (repeated.length > 0) problems.push(`ledger holds ${repeated.length} events more than once`);
  }

  return {
    operations: journal.length,
    acknowledged: journal.filter((o) => o.outcome === 'ok').length,
    refused: journal.filter((o) => o.outcome === 'refused').length,
    gaveUp: journal.filter((o) => o.outcome === 'gave_up').length,
    retries: journal.reduce((n, o) => n + Math.max(0, o.attempts - 1), 0),
    duplicatesFound: duplicates,
    orphansFound: scheduling.orphanReservations.length,
    halfBookingsFound: scheduling.halfBookings.length,
    lostFound: lost,
    phantomsFound: phantoms,
    ...(visitReport ? { visits: visitReport } : {}),
    ...(ledgerReport ? { ledger: ledgerReport } : {}),
    storedEvents: events.length,
    problems,
  };
}
