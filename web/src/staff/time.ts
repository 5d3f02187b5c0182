/** Dates and times as the staff app shows and reads them (the browser's own time zone). */

const pad = (n: number) => String(n).padStart(2, '0');

/** YYYY-MM-DD of a date in the browser's time zone. */
export const localDay = (d: Date): string =>
  `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;

/** The value of a datetime-local input for a date. */
export const localInput = (d: Date): string => `${localDay(d)}T${pad(d.getHours())}:${pad(d.getMinutes())}`;

/** "14:05" of an ISO time ('' for none). */
export const timeOf = (iso: string | null | undefined): string =>
  iso ? new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) : '';

/** The browser's IANA time zone. */
export const timeZone = (): string => Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';

/** An ISO time from a datetime-local value ('' when it is not a date). */
export function isoFromLocalInput(value: string): string {
  const date = value ? new Date(value) : null;
  return date && !Number.isNaN(date.getTime()) ? date.toISOString() : '';
}

/** "Good morning" / "Good afternoon" / "Good evening". */
export function greeting(now = new Date()): string {
  const h = now.getHours();
  return h < 12 ? 'Good morning' : h < 18 ? 'Good afternoon' : 'Good evening';
}
