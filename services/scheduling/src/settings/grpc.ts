/**
 * GetClinicSettings (any staff user) and UpdateClinicSettings (admin: validated, appended as
 * ClinicSettingsChanged to `scheduling.clinic_settings-clinic`, folded into this replica's read model at once; other
 * replicas follow through the read model's subscription).
 */
import { ValidationError, type FieldViolation } from '@haven/errors';
import { newEventId } from '@haven/eventstore';
import type { scheduling } from '@haven/proto';
import { commandMetadata, requirePrincipal, throwIfAborted, type CallContext } from '@haven/service';
import type { SchedulingDeps } from '../deps';
import { isTimeZone } from '../schedule/clinic-time';
import {
  CLINIC_SETTINGS_CHANGED,
  CLINIC_SETTINGS_STREAM,
  type ClinicSettings,
  type ClinicSettingsChange,
} from './clinic-settings';

const PATHS: ReadonlySet<string> = new Set(['time_zone']);

function toProto(s: ClinicSettings): scheduling.ClinicSettings {
  return {
    name: 'clinicSettings',
    timeZone: s.timeZone,
    ...(s.updateTime !== undefined ? { updateTime: new Date(s.updateTime) } : {}),
  };
}

/** GetClinicSettings: the settings in force. */
export function getClinicSettings(deps: Pick<SchedulingDeps, 'readModel' | 'settings'>) {
  return (
    _request: scheduling.GetClinicSettingsRequest,
    ctx: CallContext,
  ): Promise<scheduling.GetClinicSettingsResponse> => {
    requirePrincipal(ctx);
    return Promise.resolve({
      clinicSettings: toProto(
        deps.readModel.clinicSettings(deps.settings.defaultTimeZone ?? deps.settings.timeZone),
      ),
    });
  };
}

/** UpdateClinicSettings: validate the masked fields, append the change, answer the settings in force. */
export function updateClinicSettings(
  deps: Pick<SchedulingDeps, 'readModel' | 'settings' | 'store' | 'clock' | 'logger'>,
) {
  return async (
    request: scheduling.UpdateClinicSettingsRequest,
    ctx: CallContext,
  ): Promise<scheduling.UpdateClinicSettingsResponse> => {
    requirePrincipal(ctx);
    const wanted = request.clinicSettings;
    if (!wanted) throw new ValidationError([{ field: 'clinic_settings', description: 'is required' }]);
    const paths = request.updateMask?.length ? request.updateMask : [...PATHS];
    const violations: FieldViolation[] = [];
    for (const p of paths)
      if (!PATHS.has(p)) violations.push({ field: 'update_mask', description: `has an unknown path ${p}` });
    const change: { timeZone?: string } = {};
    if (paths.includes('time_zone')) {
      if (!isTimeZone(wanted.timeZone))
        violations.push({
          field: 'clinic_settings.time_zone',
          description: 'must be an IANA time zone such as Europe/Berlin',
        });
      else change.timeZone = wanted.timeZone;
    }
    if (violations.length > 0) throw new ValidationError(violations);
    const data: ClinicSettingsChange = change;
    const metadata = commandMetadata(ctx);
    throwIfAborted(metadata.signal);
    const occurredAt = deps.clock().toISOString();
    const appended = await deps.store.append(CLINIC_SETTINGS_STREAM, 'any', [
      {
        id: newEventId(),
        type: CLINIC_SETTINGS_CHANGED,
        occurredAt,
        actor: metadata.actor,
        correlationId: metadata.correlationId,
        causationId: metadata.correlationId,
        ...(metadata.traceparent !== undefined ? { traceparent: metadata.traceparent } : {}),
        data: { ...data },
      },
    ]);
    deps.readModel.apply({
      stream: CLINIC_SETTINGS_STREAM,
      revision: appended.nextRevision,
      type: CLINIC_SETTINGS_CHANGED,
      data: { ...data },
      occurredAt,
    });
    deps.logger.info({ fields: Object.keys(data) }, 'clinic settings changed');
    return {
      clinicSettings: toProto(
        deps.readModel.clinicSettings(deps.settings.defaultTimeZone ?? deps.settings.timeZone),
      ),
    };
  };
}
