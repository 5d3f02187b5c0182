/** GetUsageReport (admin): appointment counts from the read model over a range of days. */
import { ValidationError, type FieldViolation } from '@haven/errors';
import type { scheduling } from '@haven/proto';
import { requirePrincipal, type CallContext } from '@haven/service';
import type { SchedulingDeps } from '../deps';
import { isTimeZone } from '../schedule/clinic-time';
import { usageReport, type UsageCounts } from './usage';

const DAY = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/;
const MAX_DAYS = 366;

const toProto = (c: UsageCounts): scheduling.UsageCounts => ({ ...c });

/** GetUsageReport: validates the range, then counts. */
export function getUsageReport(deps: Pick<SchedulingDeps, 'readModel'>) {
  return async (
    request: scheduling.GetUsageReportRequest,
    ctx: CallContext,
  ): Promise<scheduling.GetUsageReportResponse> => {
    requirePrincipal(ctx);
    const violations: FieldViolation[] = [];
    const timeZone = request.timeZone || 'UTC';
    if (!isTimeZone(timeZone))
      violations.push({ field: 'time_zone', description: 'must be an IANA time zone' });
    for (const field of ['start_day', 'end_day'] as const) {
      const day = field === 'start_day' ? request.startDay : request.endDay;
      if (!DAY.test(day)) violations.push({ field, description: 'must be YYYY-MM-DD' });
    }
    if (violations.length === 0) {
      const days = (Date.parse(request.endDay) - Date.parse(request.startDay)) / 86_400_000;
      if (days < 0) violations.push({ field: 'end_day', description: 'must not be before start_day' });
      else if (days >= MAX_DAYS)
        violations.push({ field: 'end_day', description: `must be within ${MAX_DAYS} days of start_day` });
    }
    if (violations.length > 0) throw new ValidationError(violations);
    await Promise.resolve();
    const report = usageReport(deps.readModel.appointments(), {
      startDay: request.startDay,
      endDay: request.endDay,
      timeZone,
    });
    return {
      total: toProto(report.total),
      clinicians: report.clinicians.map((c) => ({
        clinician: `users/${c.clinicianId}`,
        counts: toProto(c.counts),
      })),
    };
  };
}
