/**
 * The usage report: appointment counts over a range of days in a time zone, in total and per clinician. Pure
 * (Intl only): counts come from appointment states, never a patient or a reason.
 */
import type { ExistingAppointment } from '../appointment/appointment';

/** Counts over a set of appointments. */
export interface UsageCounts {
  appointments: number;
  completed: number;
  noShows: number;
  cancelled: number;
  /** Booked minutes (end − start) of the completed ones. */
  completedMinutes: number;
}

/** The report. */
export interface UsageReport {
  readonly total: UsageCounts;
  /** By clinician id, sorted. */
  readonly clinicians: readonly { readonly clinicianId: string; readonly counts: UsageCounts }[];
}

/** A range of days (`YYYY-MM-DD`, both inclusive) read in an IANA time zone. */
export interface DayRange {
  readonly startDay: string;
  readonly endDay: string;
  readonly timeZone: string;
}

const empty = (): UsageCounts => ({
  appointments: 0,
  completed: 0,
  noShows: 0,
  cancelled: 0,
  completedMinutes: 0,
});

function add(counts: UsageCounts, a: Pick<ExistingAppointment, 'status' | 'startTime' | 'endTime'>): void {
  counts.appointments += 1;
  if (a.status === 'completed') {
    counts.completed += 1;
    const minutes = (Date.parse(a.endTime) - Date.parse(a.startTime)) / 60_000;
    if (Number.isFinite(minutes) && minutes > 0) counts.completedMinutes += Math.round(minutes);
  } else if (a.status === 'no_show') counts.noShows += 1;
  else if (a.status === 'cancelled') counts.cancelled += 1;
}

/**
 * Counts the appointments that start on a day of `range` (in its zone). Throws RangeError on an unknown zone.
 */
export function usageReport(
  appointments: Iterable<Pick<ExistingAppointment, 'status' | 'clinicianId' | 'startTime' | 'endTime'>>,
  range: DayRange,
): UsageReport {
  const dayOf = new Intl.DateTimeFormat('en-CA', {
    timeZone: range.timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  });
  const total = empty();
  const byClinician = new Map<string, UsageCounts>();
  for (const a of appointments) {
    const day = dayOf.format(new Date(a.startTime));
    if (day < range.startDay || day > range.endDay) continue;
    add(total, a);
    let counts = byClinician.get(a.clinicianId);
    if (!counts) byClinician.set(a.clinicianId, (counts = empty()));
    add(counts, a);
  }
  return {
    total,
    clinicians: [...byClinician.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([clinicianId, counts]) => ({ clinicianId, counts })),
  };
}
