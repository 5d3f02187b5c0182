/**
 * Free-slot suggestions for the booking form: the first gaps of a clinician's day long enough for the visit, on a
 * quarter-hour grid, inside the clinic's hours, never in the past. Pure: the caller passes the day's appointments
 * (only those that hold their slot: scheduled or in progress) and the clock.
 */

/** A busy interval, ms since the epoch. */
export interface Busy {
  readonly start: number;
  readonly end: number;
}

/** Options of {@link freeSlots}. */
export interface FreeSlotOptions {
  /** Midnight of the day in the browser's time zone. */
  readonly day: Date;
  /** The visit's length, ms. */
  readonly lengthMs: number;
  /** Now, ms since the epoch: no suggestion starts before now plus `leadMs`. */
  readonly now: number;
  /** How soon from now a suggestion may start (the link must reach the patient), ms. */
  readonly leadMs?: number;
  /** Opening and closing hour of the clinic (local), 8 and 18 by default. */
  readonly openHour?: number;
  readonly closeHour?: number;
  /** Grid step, ms (15 minutes by default). */
  readonly stepMs?: number;
  /** At most this many suggestions (4 by default). */
  readonly limit?: number;
}

/** The suggested slots, earliest first. */
export function freeSlots(busy: readonly Busy[], o: FreeSlotOptions): Busy[] {
  const step = o.stepMs ?? 15 * 60_000;
  const open = new Date(o.day);
  open.setHours(o.openHour ?? 8, 0, 0, 0);
  const close = new Date(o.day);
  close.setHours(o.closeHour ?? 18, 0, 0, 0);
  const earliest = o.now + (o.leadMs ?? 5 * 60_000);
  // Grid points are counted from the opening time (local), so they stay on the quarter hour across DST changes
  // only when the change is outside the opening hours, as it is everywhere today.
  let t = open.getTime();
  if (t < earliest) t += Math.ceil((earliest - t) / step) * step;
  const out: Busy[] = [];
  const limit = o.limit ?? 4;
  while (t + o.lengthMs <= close.getTime() && out.length < limit) {
    const slot = { start: t, end: t + o.lengthMs };
    const clash = busy.find((b) => b.start < slot.end && slot.start < b.end);
    if (!clash) {
      out.push(slot);
      t += o.lengthMs;
      // Back onto the grid after a suggestion whose length is not a whole number of steps.
      t = open.getTime() + Math.ceil((t - open.getTime()) / step) * step;
    } else {
      t = open.getTime() + Math.ceil((clash.end - open.getTime()) / step) * step;
    }
  }
  return out;
}
