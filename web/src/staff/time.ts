/**
 * Dates and times as the staff app shows and reads them: in the clinic's time zone (the clinic settings, set
 * once signed in with {@link setClinicTimeZone}), else the browser's. Wall times convert both ways through Intl,
 * so a day or a booking across a daylight-saving change stays right whatever zone the browser is in.
 */

const pad = (n: number) => String(n).padStart(2, '0');

let clinicZone: string | undefined;

/** The browser's IANA time zone. */
const browserZone = (): string => Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';

/** Sets the clinic's time zone (an unknown one, or none, leaves the browser's in use). */
export function setClinicTimeZone(zone: string | undefined): void {
  clinicZone = undefined;
  if (!zone) return;
  try {
    new Intl.DateTimeFormat('en-CA', { timeZone: zone });
    clinicZone = zone;
  } catch {
    // unknown here: the browser's zone stays
  }
}

/** The zone times are shown in: the clinic's, else the browser's. */
export const timeZone = (): string => clinicZone ?? browserZone();

const formats = new Map<string, Intl.DateTimeFormat>();
/** Year, month, day, hour and minute of an instant on the wall clock of `zone`. */
function wall(d: Date, zone = timeZone()): { y: number; mo: number; d: number; h: number; mi: number } {
  let f = formats.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-CA', {
      timeZone: zone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    });
    formats.set(zone, f);
  }
  const p: Record<string, number> = {};
  for (const part of f.formatToParts(d)) if (part.type !== 'literal') p[part.type] = Number(part.value);
  return {
    y: p['year'] ?? 0,
    mo: p['month'] ?? 1,
    d: p['day'] ?? 1,
    h: p['hour'] ?? 0,
    mi: p['minute'] ?? 0,
  };
}

/** How far `zone`'s wall clock is ahead of UTC at an instant, ms. */
function offsetAt(ms: number, zone: string): number {
  const w = wall(new Date(ms), zone);
  return Date.UTC(w.y, w.mo - 1, w.d, w.h, w.mi) - Math.floor(ms / 60_000) * 60_000;
}

/** YYYY-MM-DD of a date in the clinic's (or browser's) zone. */
export const localDay = (d: Date): string => {
  const w = wall(d);
  return `${w.y}-${pad(w.mo)}-${pad(w.d)}`;
};

/** The value of a datetime-local input for a date, on the clinic's wall clock. */
export const localInput = (d: Date): string => {
  const w = wall(d);
  return `${localDay(d)}T${pad(w.h)}:${pad(w.mi)}`;
};

/** "14:05" of an ISO time in the clinic's zone ('' for none). */
export const timeOf = (iso: string | null | undefined): string =>
  iso
    ? new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', timeZone: timeZone() })
    : '';

/** "Dec 9, 2026, 10:00 AM" of an instant on the clinic's wall clock (no seconds). */
export const dateTimeOf = (d: Date | string): string =>
  new Date(d).toLocaleString([], { dateStyle: 'medium', timeStyle: 'short', timeZone: timeZone() });

/** "Dec 9, 2026" of an instant on the clinic's wall clock. */
export const dateOf = (d: Date | string): string =>
  new Date(d).toLocaleDateString([], { dateStyle: 'medium', timeZone: timeZone() });

/** An ISO time from a datetime-local value read on the clinic's wall clock ('' when it is not a date). */
export function isoFromLocalInput(value: string): string {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(value);
  if (!m) return '';
  const [y, mo, d, h, mi] = m.slice(1).map(Number) as [number, number, number, number, number];
  const asUtc = Date.UTC(y, mo - 1, d, h, mi);
  if (Number.isNaN(asUtc)) return '';
  const zone = timeZone();
  // The offset at the guess, then at the instant it gives (they differ only next to a DST change).
  let ms = asUtc - offsetAt(asUtc, zone);
  ms = asUtc - offsetAt(ms, zone);
  return new Date(ms).toISOString();
}

/** "Good morning" / "Good afternoon" / "Good evening" (the clinic's hour). */
export function greeting(now = new Date()): string {
  const h = wall(now).h;
  return h < 12 ? 'Good morning' : h < 18 ? 'Good afternoon' : 'Good evening';
}
