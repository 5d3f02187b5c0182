import { ValidationError } from '@haven/errors';
import { given } from '@haven/testing';
import {
  decideSchedule,
  evolveSchedule,
  initialScheduleState,
  ScheduleEventType,
} from '../schedule/schedule';
import { AppointmentEventType, evolve, initialAppointmentState } from './appointment';
import { decide } from './decide';
import { addClinicDays, expandSeries, SeriesPolicy, validateSeriesRule } from './series';

const spec = { decide, evolve, initialState: initialAppointmentState };
const first = { startTime: new Date('2027-03-15T08:00:00Z'), endTime: new Date('2027-03-15T08:30:00Z') };
const iso = (d: Date) => d.toISOString();

describe('a weekly series', () => {
  it('has one occurrence a week, each as long as the first', () => {
    const all = expandSeries(first, { intervalWeeks: 1, count: 3 }, 'UTC');
    expect(all.map((o) => [o.occurrence, iso(o.startTime), iso(o.endTime)])).toEqual([
      [1, '2027-03-15T08:00:00.000Z', '2027-03-15T08:30:00.000Z'],
      [2, '2027-03-22T08:00:00.000Z', '2027-03-22T08:30:00.000Z'],
      [3, '2027-03-29T08:00:00.000Z', '2027-03-29T08:30:00.000Z'],
    ]);
  });

  it('keeps the clinic’s wall-clock time across a daylight-saving change', () => {
    // 09:00 in Berlin is 08:00 UTC before 28 March 2027 and 07:00 UTC after it.
    const all = expandSeries(first, { intervalWeeks: 1, count: 3 }, 'Europe/Berlin');
    expect(all.map((o) => iso(o.startTime))).toEqual([
      '2027-03-15T08:00:00.000Z',
      '2027-03-22T08:00:00.000Z',
      '2027-03-29T07:00:00.000Z',
    ]);
    expect(all[2]!.endTime.getTime() - all[2]!.startTime.getTime()).toBe(30 * 60_000);
    // …and back in autumn (New York falls back on 7 November 2027).
    const autumn = addClinicDays(new Date('2027-11-01T13:00:00Z'), 7, 'America/New_York');
    expect(iso(autumn)).toBe('2027-11-08T14:00:00.000Z');
  });

  it('repeats every N weeks until a date, that date included', () => {
    const until = new Date('2027-04-12T08:00:00Z');
    const all = expandSeries(first, { intervalWeeks: 2, until }, 'UTC');
    expect(all.map((o) => iso(o.startTime))).toEqual([
      '2027-03-15T08:00:00.000Z',
      '2027-03-29T08:00:00.000Z',
      '2027-04-12T08:00:00.000Z',
    ]);
  });

  it('never has more than the policy’s occurrences, even until the longest end date', () => {
    const until = new Date(first.startTime.getTime() + SeriesPolicy.maxSpanDays * 86_400_000);
    expect(validateSeriesRule({ intervalWeeks: 1, until }, first.startTime)).toEqual([]);
    expect(expandSeries(first, { intervalWeeks: 1, until }, 'UTC')).toHaveLength(SeriesPolicy.maxOccurrences);
  });
});

describe('a series rule', () => {
  const fields = (rule: Parameters<typeof validateSeriesRule>[0]) =>
    validateSeriesRule(rule, first.startTime).map((v) => v.field);
  it('needs either a count or an end date, not both', () => {
    expect(fields({ intervalWeeks: 1 })).toEqual(['recurrence.count']);
    expect(fields({ intervalWeeks: 1, count: 3, until: new Date('2027-05-01T00:00:00Z') })).toEqual([
      'recurrence.count',
    ]);
  });
  it('refuses one occurrence, too many, a zero interval and an end date before the start', () => {
    expect(fields({ intervalWeeks: 1, count: 1 })).toEqual(['recurrence.count']);
    expect(fields({ intervalWeeks: 1, count: SeriesPolicy.maxOccurrences + 1 })).toEqual([
      'recurrence.count',
    ]);
    expect(fields({ intervalWeeks: 0, count: 3 })).toEqual(['recurrence.interval_weeks']);
    expect(fields({ intervalWeeks: 1, until: new Date('2027-03-01T00:00:00Z') })).toEqual([
      'recurrence.until',
    ]);
    expect(fields({ intervalWeeks: 1, until: new Date('2028-12-01T00:00:00Z') })).toEqual([
      'recurrence.until',
    ]);
  });
});

describe('when an occurrence of a series is booked', () => {
  const now = new Date('2027-03-01T00:00:00Z');
  const command = {
    type: 'BookAppointment' as const,
    data: {
      appointmentId: 'apt-2',
      clinicianId: 'clin-1',
      patientId: 'pat-1',
      ...expandSeries(first, { intervalWeeks: 1, count: 2 }, 'UTC')[1]!,
      series: { seriesId: 'series-1', occurrence: 2 },
      now,
    },
  };
  it('records which series and which occurrence it is', () =>
    given(spec)
      .when(command)
      .then([
        {
          type: AppointmentEventType.Booked,
          data: {
            appointmentId: 'apt-2',
            clinicianId: 'clin-1',
            patientId: 'pat-1',
            startTime: '2027-03-22T08:00:00.000Z',
            endTime: '2027-03-22T08:30:00.000Z',
            seriesId: 'series-1',
            occurrence: 2,
          },
        },
      ]));
  it('keeps the series in the appointment’s state', () => {
    const [event] = decide(command, initialAppointmentState);
    const state = evolve(initialAppointmentState, event!);
    expect(state.status === 'booked' && state.series).toEqual({ seriesId: 'series-1', occurrence: 2 });
  });
  it('refuses an occurrence number below 1', () =>
    given(spec)
      .when({ ...command, data: { ...command.data, series: { seriesId: 'series-1', occurrence: 0 } } })
      .thenThrows(ValidationError, /recurrence/));
});

describe('when an occurrence overlaps the clinician’s schedule', () => {
  it('the schedule refuses that occurrence’s slot and takes the others', () => {
    const taken = evolveSchedule(initialScheduleState, {
      type: ScheduleEventType.SlotReserved,
      data: {
        clinicianId: 'clin-1',
        appointmentId: 'other',
        startTime: '2027-03-22T08:15:00.000Z',
        endTime: '2027-03-22T08:45:00.000Z',
      },
    });
    const outcome = expandSeries(first, { intervalWeeks: 1, count: 3 }, 'UTC').map((o) => {
      try {
        decideSchedule(
          {
            type: 'ReserveSlot',
            data: { clinicianId: 'clin-1', appointmentId: `apt-${o.occurrence}`, ...o, field: 'x' },
          },
          taken,
        );
        return 'free';
      } catch (error) {
        return error instanceof ValidationError ? 'taken' : 'error';
      }
    });
    expect(outcome).toEqual(['free', 'taken', 'free']);
  });
});
