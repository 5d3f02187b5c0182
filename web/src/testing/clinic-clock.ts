/**
 * Test support for the staff app's times: a clinic zone far from the machine's, and the check that a time is
 * shown on the clinic's wall clock (medium date, short time, no seconds) rather than the browser's.
 */

/** The clinic's zone the specs set (a spec run in this very zone could not tell the two clocks apart). */
export const CLINIC_ZONE = 'Asia/Tokyo';

const shortDateTime = (iso: string, timeZone?: string): string =>
  new Date(iso).toLocaleString([], {
    dateStyle: 'medium',
    timeStyle: 'short',
    ...(timeZone ? { timeZone } : {}),
  });

/** Fails unless `text` shows the instant `iso` on {@link CLINIC_ZONE}'s wall clock, without seconds. */
export function expectOnClinicClock(text: string, iso: string): void {
  const clinic = shortDateTime(iso, CLINIC_ZONE);
  expect(clinic).not.toBe(shortDateTime(iso)); // the machine's zone must differ from the clinic's
  expect(text).toContain(clinic);
  expect(text).not.toMatch(/\d:\d\d:\d\d/);
}
