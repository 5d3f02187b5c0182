'use strict';
// When the dev stack's seeded demo visit takes place (scripts/seed-demo.mjs), next to the booking form's
// default slot (web/src/staff/front-desk.tsx: 10 minutes after the page loads, seconds dropped, 30 minutes long), so
// that step 1 of the README's walkthrough books with the defaults without colliding with the demo visit.
// CommonJS so the seed script (ESM) and the tests can both load it. Types: demo-visit.d.cts.

const MINUTE = 60_000;
/** How long after the page loads the booking form's default slot starts (web/src/staff/front-desk.tsx). */
const FORM_DEFAULT_LEAD_MS = 10 * MINUTE;
/** How long the booking form's default slot lasts. */
const FORM_DEFAULT_LENGTH_MS = 30 * MINUTE;

/** The booking form's default slot for a page loaded at `now` (ms since the epoch). */
function formDefaultSlot(now) {
  const start = Math.floor((now + FORM_DEFAULT_LEAD_MS) / MINUTE) * MINUTE;
  return { start: new Date(start), end: new Date(start + FORM_DEFAULT_LENGTH_MS) };
}

/**
 * The demo visit seeded at `now`: from the next whole minute (at least 30 s ahead, so it is not in the past
 * when scheduling decides) until the earliest start the booking form can default to afterwards. Its patient
 * link is open at once (links open 15 minutes before the start).
 */
function demoVisitSlot(now) {
  const start = Math.ceil((now + 30_000) / MINUTE) * MINUTE;
  const end = formDefaultSlot(now).start.getTime();
  return { start: new Date(start), end: new Date(end) };
}

module.exports = { FORM_DEFAULT_LEAD_MS, FORM_DEFAULT_LENGTH_MS, formDefaultSlot, demoVisitSlot };
