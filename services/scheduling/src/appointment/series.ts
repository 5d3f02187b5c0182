/**
 * Recurring appointments: a series is a rule (every N weeks, a count or an end date) expanded into occurrences,
 * each booked as its own appointment (own slot, own link and passcode when issued) carrying the series id.
 * Occurrences keep the first one's wall-clock time in the clinic's time zone, so a weekly 09:00 visit stays at
 * 09:00 across a daylight-saving change. Pure: Intl only, no I/O, no Node builtins.
 */
import type { FieldViolation } from '@haven/errors';

/** Limits of a series. */
export const SeriesPolicy = {
  /** Most occurrences in one series (a year of weekly visits). */
  maxOccurrences: 52,
  /** Longest interval between two occurrences. */
  maxIntervalWeeks: 12,
  /** The last occurrence starts at most this long after the first (51 weeks: weekly fits in maxOccurrences). */
  maxSpanDays: 357,
} as const;

/** How a series repeats: every `intervalWeeks` weeks, `count` times or until `until` (exactly one of both). */
export interface SeriesRule {
  readonly intervalWeeks: number;
  readonly count?: number | undefined;
  readonly until?: Date | undefined;
}

/** One occurrence of a series (`occurrence` counts from 1). */
export interface Occurrence {
  readonly occurrence: number;
  readonly startTime: Date;
  readonly endTime: Date;
}

const DAY_MS = 86_400_000;

/** The rule's violations (fields under `recurrence.`), given the first occurrence's start. */
export function validateSeriesRule(rule: SeriesRule, firstStart: Date | undefined): FieldViolation[] {
  const v: FieldViolation[] = [];
  const { intervalWeeks, count, until } = rule;
  if (!Number.isInteger(intervalWeeks) || intervalWeeks < 1 || intervalWeeks > SeriesPolicy.maxIntervalWeeks)
    v.push({
      field: 'recurrence.interval_weeks',
      description: `must be a whole number from 1 to ${SeriesPolicy.maxIntervalWeeks}`,
    });
  const hasCount = count !== undefined && count !== 0;
  const hasUntil = until !== undefined;
  if (hasCount === hasUntil) {
    v.push({ field: 'recurrence.count', description: 'give either count or until' });
  } else if (hasCount && (!Number.isInteger(count) || count < 2 || count > SeriesPolicy.maxOccurrences)) {
    v.push({
      field: 'recurrence.count',
      description: `must be a whole number from 2 to ${SeriesPolicy.maxOccurrences}`,
    });
  } else if (hasUntil) {
    if (Number.isNaN(until.getTime())) v.push({ field: 'recurrence.until', description: 'must be a date' });
    else if (firstStart && until.getTime() <= firstStart.getTime())
      v.push({ field: 'recurrence.until', description: 'must be after the first occurrence' });
    else if (firstStart && until.getTime() - firstStart.getTime() > SeriesPolicy.maxSpanDays * DAY_MS)
      v.push({
        field: 'recurrence.until',
        description: `must be at most ${SeriesPolicy.maxSpanDays} days after the first occurrence`,
      });
  }
  return v;
}

/** The wall-clock fields of `at` in `timeZone`. */
function wallClock(at: Date, timeZone: string): number[] {
  const fields: Record<string, number> = {};
  const format = new Intl.DateTimeFormat('en-GB', {
    timeZone,
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
    hourCycle: 'h23',
  });
  for (const p of format.formatToParts(at)) if (p.type !== 'literal') fields[p.type] = Number(p.value);
  return ['year', 'month', 'day', 'hour', 'minute', 'second'].map((k) => fields[k] ?? 0);
}

/** How far `timeZone`'s wall clock is ahead of UTC at `at`, in ms. */
function offsetAt(at: Date, timeZone: string): number {
  const [y = 0, mo = 1, d = 1, h = 0, mi = 0, s = 0] = wallClock(at, timeZone);
  return Date.UTC(y, mo - 1, d, h, mi, s) - Math.floor(at.getTime() / 1000) * 1000;
}

/**
 * The instant `days` calendar days after `at` at the same wall-clock time in `timeZone` (a wall-clock time that
 * a spring-forward skips lands an hour later, as calendars do).
 */
export function addClinicDays(at: Date, days: number, timeZone: string): Date {
  const [y = 0, mo = 1, d = 1, h = 0, mi = 0, s = 0] = wallClock(at, timeZone);
  const local = Date.UTC(y, mo - 1, d + days, h, mi, s) + (at.getTime() % 1000);
  let t = local - offsetAt(new Date(local), timeZone);
  t = local - offsetAt(new Date(t), timeZone);
  return new Date(t);
}

/**
 * The occurrences of a series whose first occurrence is `first`, in order. The rule must be valid
 * ({@link validateSeriesRule}); at most {@link SeriesPolicy.maxOccurrences} are returned. Throws RangeError on
 * an unknown time zone.
 */
export function expandSeries(
  first: { readonly startTime: Date; readonly endTime: Date },
  rule: SeriesRule,
  timeZone: string,
): Occurrence[] {
  const length = first.endTime.getTime() - first.startTime.getTime();
  const out: Occurrence[] = [];
  const wanted = rule.count !== undefined && rule.count !== 0 ? rule.count : SeriesPolicy.maxOccurrences;
  for (let i = 0; i < Math.min(wanted, SeriesPolicy.maxOccurrences); i += 1) {
    const startTime =
      i === 0 ? first.startTime : addClinicDays(first.startTime, 7 * rule.intervalWeeks * i, timeZone);
    if (rule.until !== undefined && startTime.getTime() > rule.until.getTime()) break;
    out.push({ occurrence: i + 1, startTime, endTime: new Date(startTime.getTime() + length) });
  }
  return out;
}
