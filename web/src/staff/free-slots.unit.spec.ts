import { freeSlots, type Busy } from './free-slots';

const day = new Date(2026, 11, 7); // local midnight
const at = (h: number, m = 0) => new Date(2026, 11, 7, h, m).getTime();
const hm = (ms: number) => {
  const d = new Date(ms);
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
};
const show = (slots: Busy[]) => slots.map((s) => `${hm(s.start)}–${hm(s.end)}`);
const HALF_HOUR = 30 * 60_000;

describe('free-slot suggestions', () => {
  describe('when the day is empty', () => {
    it('suggests back-to-back slots from opening time', () => {
      expect(show(freeSlots([], { day, lengthMs: HALF_HOUR, now: at(6) }))).toEqual([
        '08:00–08:30',
        '08:30–09:00',
        '09:00–09:30',
        '09:30–10:00',
      ]);
    });
  });

  describe('when it is already past opening', () => {
    it('starts at the next quarter hour after the lead time', () => {
      expect(show(freeSlots([], { day, lengthMs: HALF_HOUR, now: at(10, 7), limit: 2 }))).toEqual([
        '10:15–10:45',
        '10:45–11:15',
      ]);
    });
  });

  describe('when appointments hold slots', () => {
    it('skips them, resuming on the grid after each', () => {
      const busy = [
        { start: at(8), end: at(8, 40) },
        { start: at(9, 30), end: at(10) },
      ];
      expect(show(freeSlots(busy, { day, lengthMs: HALF_HOUR, now: at(6), limit: 3 }))).toEqual([
        '08:45–09:15',
        '10:00–10:30',
        '10:30–11:00',
      ]);
    });
  });

  describe('when the clinic is about to close', () => {
    it('suggests nothing that ends after closing time', () => {
      expect(show(freeSlots([], { day, lengthMs: HALF_HOUR, now: at(17, 30) }))).toEqual([]);
      expect(show(freeSlots([], { day, lengthMs: HALF_HOUR, now: at(17, 10) }))).toEqual(['17:15–17:45']);
    });
  });
});
