/**
 * gRPC handlers for appointments: map the request, check the caller's rights, run the pure decider
 * through the shared command handler, publish what was appended, answer.
 */
import { randomUUID } from 'node:crypto';
import { NotFoundError, PermissionError, ValidationError } from '@haven/errors';
import { scheduling } from '@haven/proto';
import { actorOf, handleCommand, loadAggregate, requirePrincipal, type CallContext } from '@haven/service';
import { evolve, initialAppointmentState, type AppointmentState } from './appointment';
import { decide } from './decide';
import type { SchedulingDeps } from '../deps';

const APPOINTMENT_ID = /^[a-z0-9-]{4,63}$/;

/** `users/{id}` → id, or undefined when the name is not of that form. */
function idFromName(name: string, collection: string): string | undefined {
  const prefix = `${collection}/`;
  return name.startsWith(prefix) && name.length > prefix.length ? name.slice(prefix.length) : undefined;
}

export function appointmentStream(appointmentId: string): string {
  return `scheduling.appointment-${appointmentId}`;
}

function toProto(state: AppointmentState): scheduling.Appointment {
  if (state.status === 'none') throw new Error('no appointment state');
  return scheduling.Appointment.fromPartial({
    name: `appointments/${state.appointmentId}`,
    clinician: `users/${state.clinicianId}`,
    patient: `patients/${state.patientId}`,
    startTime: new Date(state.startTime),
    endTime: new Date(state.endTime),
    state:
      state.status === 'cancelled'
        ? scheduling.AppointmentState.APPOINTMENT_STATE_CANCELLED
        : scheduling.AppointmentState.APPOINTMENT_STATE_SCHEDULED,
    visit: `visits/${state.appointmentId}`,
  });
}

/** BookAppointment: front desk books for any clinician, a clinician only for themself. */
export function bookAppointment(deps: SchedulingDeps) {
  return async (
    request: scheduling.BookAppointmentRequest,
    ctx: CallContext,
  ): Promise<scheduling.BookAppointmentResponse> => {
    const principal = requirePrincipal(ctx);
    const appointment = request.appointment;
    const violations = [];
    if (!appointment) violations.push({ field: 'appointment', description: 'is required' });
    if (request.appointmentId !== '' && !APPOINTMENT_ID.test(request.appointmentId)) {
      violations.push({ field: 'appointment_id', description: 'must match [a-z0-9-]{4,63}' });
    }
    const clinicianId = appointment ? idFromName(appointment.clinician, 'users') : undefined;
    const patientId = appointment ? idFromName(appointment.patient, 'patients') : undefined;
    if (appointment && !clinicianId)
      violations.push({ field: 'appointment.clinician', description: 'must be users/{user}' });
    if (appointment && !patientId)
      violations.push({ field: 'appointment.patient', description: 'must be patients/{patient}' });
    if (violations.length > 0) throw new ValidationError(violations);

    const role = principal.role;
    const mayBook =
      (principal.kind === 'user' && (role === 'front_desk' || role === 'admin')) ||
      (principal.kind === 'user' && role === 'clinician' && principal.id === clinicianId) ||
      (principal.kind === 'service_account' && principal.scopes.includes('scheduling.appointments.write'));
    if (!mayBook) throw new PermissionError('not allowed to book appointments for this clinician');

    const appointmentId = request.appointmentId || randomUUID();
    const result = await handleCommand({
      store: deps.store,
      stream: appointmentStream(appointmentId),
      decide,
      evolve,
      initialState: initialAppointmentState,
      command: {
        type: 'BookAppointment',
        data: {
          appointmentId,
          clinicianId: clinicianId ?? '',
          patientId: patientId ?? '',
          startTime: appointment?.startTime,
          endTime: appointment?.endTime,
          now: deps.clock(),
        },
      },
      metadata: {
        actor: actorOf(principal),
        correlationId: ctx.correlationId,
        ...(ctx.traceparent ? { traceparent: ctx.traceparent } : {}),
      },
    });
    return { appointment: toProto(result.state) };
  };
}

/** GetAppointment (BASIC view: no PHI). Clinicians see only their own; front desk and admin see all. */
export function getAppointment(deps: SchedulingDeps) {
  return async (
    request: scheduling.GetAppointmentRequest,
    ctx: CallContext,
  ): Promise<scheduling.GetAppointmentResponse> => {
    const principal = requirePrincipal(ctx);
    const id = idFromName(request.name, 'appointments');
    if (!id || !APPOINTMENT_ID.test(id))
      throw new ValidationError([{ field: 'name', description: 'must be appointments/{appointment}' }]);
    const { state } = await loadAggregate({
      store: deps.store,
      stream: appointmentStream(id),
      evolve,
      initialState: initialAppointmentState,
    });
    const visible =
      state.status !== 'none' &&
      ((principal.kind === 'user' && ['front_desk', 'admin'].includes(principal.role ?? '')) ||
        (principal.kind === 'user' && principal.id === state.clinicianId));
    if (!visible) throw new NotFoundError(`appointment ${id} not found`);
    return { appointment: toProto(state) };
  };
}
