/** How long after the page loads the booking form's default slot starts (web/public/app.js). */
export declare const FORM_DEFAULT_LEAD_MS: number;
/** How long the booking form's default slot lasts. */
export declare const FORM_DEFAULT_LENGTH_MS: number;
/** The booking form's default slot for a page loaded at `now` (ms since the epoch). */
export declare function formDefaultSlot(now: number): { start: Date; end: Date };
/** The seeded demo visit for a seed run at `now`: it never overlaps the form's default slot of a later page. */
export declare function demoVisitSlot(now: number): { start: Date; end: Date };
