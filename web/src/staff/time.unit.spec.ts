import { isoFromLocalInput, localDay, localInput, setClinicTimeZone, timeOf, timeZone } from './time';

describe('staff times in the clinic’s time zone', () => {
  afterEach(() => setClinicTimeZone(undefined));

  it('reads and shows wall times in the clinic’s zone, across a daylight-saving change', () => {
    setClinicTimeZone('Europe/Berlin');
    expect(timeZone()).toBe('Europe/Berlin');
    // 29 Mar 2026: clocks go from 02:00 to 03:00 in Berlin.
    expect(isoFromLocalInput('2026-03-28T10:00')).toBe('2026-03-28T09:00:00.000Z');
    expect(isoFromLocalInput('2026-03-29T10:00')).toBe('2026-03-29T08:00:00.000Z');
    expect(localInput(new Date('2026-03-29T08:00:00.000Z'))).toBe('2026-03-29T10:00');
    expect(localDay(new Date('2026-03-28T23:30:00.000Z'))).toBe('2026-03-29');
    expect(timeOf('2026-10-25T09:00:00.000Z')).toMatch(/10:00/); // after the change back: UTC+1
    setClinicTimeZone('America/New_York');
    expect(isoFromLocalInput('2026-03-08T12:00')).toBe('2026-03-08T16:00:00.000Z');
  });

  it('keeps the browser’s zone for an unknown or no clinic zone', () => {
    const browser = Intl.DateTimeFormat().resolvedOptions().timeZone;
    setClinicTimeZone('Mars/Olympus');
    expect(timeZone()).toBe(browser);
    expect(isoFromLocalInput('not a time')).toBe('');
    const now = new Date('2026-12-06T12:34:00.000Z');
    expect(isoFromLocalInput(localInput(now))).toBe(now.toISOString());
  });
});
