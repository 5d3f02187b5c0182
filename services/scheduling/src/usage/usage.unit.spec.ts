import type { ExistingAppointment } from '../appointment/appointment';
import { usageReport } from './usage';

type Row = Pick<ExistingAppointment, 'status' | 'clinicianId' | 'startTime' | 'endTime'>;
const row = (clinicianId: string, startTime: string, minutes: number, status: Row['status']): Row => ({
  clinicianId,
  startTime,
  endTime: new Date(Date.parse(startTime) + minutes * 60_000).toISOString(),
  status,
});

describe('usageReport', () => {
  const rows = [
    row('dr-a', '2026-03-28T23:30:00.000Z', 30, 'completed'), // 29 Mar 00:30 in Berlin (UTC+1)
    row('dr-a', '2026-03-29T09:00:00.000Z', 45, 'completed'), // after the DST change (UTC+2)
    row('dr-b', '2026-03-29T10:00:00.000Z', 30, 'no_show'),
    row('dr-b', '2026-03-29T11:00:00.000Z', 30, 'cancelled'),
    row('dr-b', '2026-03-29T12:00:00.000Z', 30, 'booked'),
    row('dr-b', '2026-03-29T22:30:00.000Z', 30, 'completed'), // 30 Mar 00:30 in Berlin: outside
  ];

  it('counts the appointments starting on the days of the range, in the zone, across a DST change', () => {
    const report = usageReport(rows, {
      startDay: '2026-03-29',
      endDay: '2026-03-29',
      timeZone: 'Europe/Berlin',
    });
    expect(report.total).toEqual({
      appointments: 5,
      completed: 2,
      noShows: 1,
      cancelled: 1,
      completedMinutes: 75,
    });
    expect(report.clinicians).toEqual([
      {
        clinicianId: 'dr-a',
        counts: { appointments: 2, completed: 2, noShows: 0, cancelled: 0, completedMinutes: 75 },
      },
      {
        clinicianId: 'dr-b',
        counts: { appointments: 3, completed: 0, noShows: 1, cancelled: 1, completedMinutes: 0 },
      },
    ]);
  });

  it('reads the same instants as other days in UTC', () => {
    const report = usageReport(rows, { startDay: '2026-03-29', endDay: '2026-03-29', timeZone: 'UTC' });
    expect(report.total.appointments).toBe(5);
    expect(report.total.completedMinutes).toBe(75);
  });

  it('is empty for a range without appointments', () => {
    const report = usageReport(rows, { startDay: '2026-04-01', endDay: '2026-04-30', timeZone: 'UTC' });
    expect(report).toEqual({
      total: { appointments: 0, completed: 0, noShows: 0, cancelled: 0, completedMinutes: 0 },
      clinicians: [],
    });
  });
});
