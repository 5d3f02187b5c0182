/**
 * The seeded demo visit and the booking form's default slot: step 1 of the README's walkthrough (book with the
 * form's defaults right after `npm start`) must never collide with the demo visit, whenever the page is loaded
 * after the seed ran, and the demo visit's link must be usable at once.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import fc from 'fast-check';
import { demoVisitSlot, formDefaultSlot, FORM_DEFAULT_LEAD_MS } from '../../scripts/demo-visit.cjs';

const ROOT = resolve(__dirname, '..', '..');
const overlaps = (a: { start: Date; end: Date }, b: { start: Date; end: Date }) =>
  a.start.getTime() < b.end.getTime() && b.start.getTime() < a.end.getTime();

describe('the seeded demo visit', () => {
  it('never overlaps the booking form default of a page loaded after the seed, and its link opens at once', () => {
    const now = Date.parse('2026-12-06T01:25:00.000Z');
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 3_600_000 }),
        fc.integer({ min: 0, max: 7_200_000 }),
        (s, later) => {
          const seededAt = now + s;
          const demo = demoVisitSlot(seededAt);
          expect(demo.start.getTime()).toBeGreaterThan(seededAt); // not in the past when booked
          expect(demo.end.getTime() - demo.start.getTime()).toBeGreaterThanOrEqual(8 * 60_000);
          expect(demo.start.getTime() - 15 * 60_000).toBeLessThanOrEqual(seededAt); // link open
          expect(overlaps(demo, formDefaultSlot(seededAt + later))).toBe(false);
        },
      ),
    );
  });

  it('uses the same default as the web form (10 minutes ahead, 30 minutes long)', () => {
    const app = readFileSync(join(ROOT, 'web', 'src', 'staff', 'front-desk.tsx'), 'utf8');
    expect(FORM_DEFAULT_LEAD_MS).toBe(10 * 60_000);
    expect(app).toContain('new Date(Date.now() + 10 * 60_000)');
    expect(app).toContain('new Date(start.getTime() + 30 * 60_000)');
    const seed = readFileSync(join(ROOT, 'scripts', 'seed-demo.mjs'), 'utf8');
    expect(seed).toContain('demoVisit.demoVisitSlot(Date.now())');
  });
});
