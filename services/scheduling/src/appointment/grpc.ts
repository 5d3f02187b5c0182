/**
 * gRPC handlers for appointments: map the request, check the caller's rights, run the pure deciders through the
 * shared command handler (the clinician's schedule stream first, so overlapping bookings cannot both succeed;
 * that reservation is where a booking or a move commits), answer. Mutating RPCs are idempotent with a
 * `request_id` (the shared mechanism of @haven/service). The visit reason is PHI: sealed in the booking event, returned only in the FULL view after
 * PhiAccessed.
 */
import { randomUUID } from 'node:crypto';
import {
  AlreadyExistsError,
  ConcurrencyError,
  NotFoundError,
  PermissionError,
  PreconditionError,
  ValidationError,
  collectViolations,
  type FieldViolation,
} from '@haven/errors';
import { openPhi, sealPhi } from '@haven/crypto';
import type { RequestRecord, SealedPhi } from '@haven/eventstore';
import { scheduling } from '@haven/proto';
import {
  commandMetadata,
  decodePageToken,
  encodePageToken,
  isPageKeyPair,
  pageSizeOf,
  findReplay,
  handleCommand,
  idempotencyKey,
  idempotentResourceId,
  loadAggregate,
  requestRecord,
  requirePrincipal,
  type CallContext,
  type CommandMetadata,
  type IdempotencyKey,
  type Principal,
} from '@haven/service';
import { isClinician, isStaff, mayActForClinician, SchedulingScope } from '../access';
import type { SchedulingDeps } from '../deps';
import { RESOURCE_ID, idFromName, requireResourceId } from '../ids';
import { loadLivePatient } from '../patient/grpc';
import { recordPhiAccess, requirePurpose } from '../phi-access';
import { loadSchedule, releaseSlot, reserveSlot } from '../schedule/slots';
import { decideSchedule } from '../schedule/schedule';
import {
  evolve,
  initialAppointmentState,
  type AppointmentState,
  type ExistingAppointment,
} from './appointment';
import { decide, type AppointmentCommand } from './decide';
import { expandSeries, validateSeriesRule, type Occurrence, type SeriesRule } from './series';

const REASON_MAX = 1000;

export function appointmentStream(appointmentId: string): string {
  return `scheduling.appointment-${appointmentId}`;
}

const STATE_OF: Record<ExistingAppointment['status'], scheduling.AppointmentState> = {
  booked: scheduling.AppointmentState.APPOINTMENT_STATE_SCHEDULED,
  cancelled: scheduling.AppointmentState.APPOINTMENT_STATE_CANCELLED,
  no_show: scheduling.AppointmentState.APPOINTMENT_STATE_NO_SHOW,
  completed: scheduling.AppointmentState.APPOINTMENT_STATE_COMPLETED,
};

/** The BASIC view of an appointment (no PHI); `reason` only when given (FULL view, after PhiAccessed). */
export function toProto(state: AppointmentState, reason?: string): scheduling.Appointment {
  if (state.status === 'none') throw new Error('no appointment state');
  return scheduling.Appointment.fromPartial({
    name: `appointments/${state.appointmentId}`,
    clinician: `users/${state.clinicianId}`,
    patient: `patients/${state.patientId}`,
    startTime: new Date(state.startTime),
    endTime: new Date(state.endTime),
    state: STATE_OF[state.status],
    visit: `visits/${state.appointmentId}`,
    ...(reason !== undefined ? { reason } : {}),
    ...(state.createTime ? { createTime: new Date(state.createTime) } : {}),
    ...(state.updateTime ? { updateTime: new Date(state.updateTime) } : {}),
    etag: state.revision >= 0 ? String(state.revision) : '',
    ...(state.series ? { seriesId: state.series.seriesId, occurrence: state.series.occurrence } : {}),
  });
}

/** Loads an appointment. */
export async function loadAppointment(
  deps: Pick<SchedulingDeps, 'store'>,
  appointmentId: string,
): Promise<{ state: AppointmentState }> {
  return loadAggregate<AppointmentState, { type: string; data: unknown }>({
    store: deps.store,
    stream: appointmentStream(appointmentId),
    evolve,
    initialState: initialAppointmentState,
  });
}

/**
 * Loads an appointment the caller may act on. Throws NotFoundError when there is none or it belongs to
 * another clinician (a clinician must not learn that other clinicians' appointments exist).
 */
export async function loadVisibleAppointment(
  deps: SchedulingDeps,
  principal: Principal,
  appointmentId: string,
  scope: SchedulingScope,
): Promise<ExistingAppointment> {
  const { state } = await loadAppointment(deps, appointmentId);
  if (state.status === 'none' || !mayActForClinician(principal, state.clinicianId, scope)) {
    throw new NotFoundError(`appointment ${appointmentId} not found`);
  }
  return state;
}

/** Options of {@link runAppointmentCommand}. */
export interface AppointmentCommandOptions {
  /** Sealed reason for AppointmentBooked; sealed link token for PatientLinkIssued. */
  readonly phi?: SealedPhi | undefined;
  /** The idempotent request (see handleCommand). */
  readonly request?: RequestRecord | undefined;
  /** Checked on the freshly loaded state (etag). */
  readonly guard?: ((state: AppointmentState) => void) | undefined;
}

/** Runs a command on an appointment stream and updates the read model. */
export async function runAppointmentCommand(
  deps: SchedulingDeps,
  appointmentId: string,
  command: AppointmentCommand,
  metadata: CommandMetadata,
  options: AppointmentCommandOptions = {},
) {
  const { phi, request, guard } = options;
  const result = await handleCommand({
    store: deps.store,
    stream: appointmentStream(appointmentId),
    decide: (c: AppointmentCommand, s: AppointmentState) =>
      decide(c, s).map((e) =>
        phi &&
        (e.type === 'haven.scheduling.v1.AppointmentBooked' ||
          e.type === 'haven.scheduling.v1.PatientLinkIssued')
          ? { ...e, phi }
          : e,
      ),
    evolve,
    initialState: initialAppointmentState,
    command,
    metadata,
    ...(request ? { request } : {}),
    ...(guard ? { guard } : {}),
    now: deps.clock,
  });
  if (result.state.status !== 'none') deps.readModel.putAppointment(result.state);
  return result;
}

/** The first answer of an idempotent request on an appointment, when the appointment's stream holds it. */
async function replayOf(deps: SchedulingDeps, appointmentId: string, request: RequestRecord | undefined) {
  if (!request) return undefined;
  const replay = await findReplay<AppointmentState, { type: string; data: unknown }>({
    store: deps.store,
    stream: appointmentStream(appointmentId),
    evolve,
    initialState: initialAppointmentState,
    request,
  });
  return replay && replay.state.status !== 'none' ? replay.state : undefined;
}

/** The metadata of the steps after a commit point: they complete what is already decided, deadline or not. */
function committed(metadata: CommandMetadata): CommandMetadata {
  const { signal: _signal, ...rest } = metadata;
  return rest;
}

function checkEtag(state: AppointmentState, etag: string): void {
  if (state.status === 'none') return;
  if (etag !== '' && etag !== String(state.revision)) {
    throw new ConcurrencyError(appointmentStream(state.appointmentId), etag, String(state.revision));
  }
}

/**
 * BookAppointment: front desk books for any clinician, a clinician only for themself. The booking commits with
 * the reservation of the clinician's slot (which carries the booking); AppointmentBooked follows — written here,
 * or by the reconciler when this handler dies in between (docs/adr/0005-atomic-bookings.md).
 */
export function bookAppointment(deps: SchedulingDeps) {
  return async (
    request: scheduling.BookAppointmentRequest,
    ctx: CallContext,
  ): Promise<scheduling.BookAppointmentResponse> => {
    const principal = requirePrincipal(ctx);
    const appointment = request.appointment;
    const violations: FieldViolation[] = [];
    if (!appointment) violations.push({ field: 'appointment', description: 'is required' });
    if (request.appointmentId !== '' && !RESOURCE_ID.test(request.appointmentId)) {
      violations.push({ field: 'appointment_id', description: 'must match [a-z0-9-]{4,63}' });
    }
    const clinicianId = appointment ? idFromName(appointment.clinician, 'users') : undefined;
    const patientId = appointment ? idFromName(appointment.patient, 'patients') : undefined;
    if (appointment && !clinicianId)
      violations.push({ field: 'appointment.clinician', description: 'must be users/{user}' });
    if (appointment && !patientId)
      violations.push({ field: 'appointment.patient', description: 'must be patients/{patient}' });
    if (appointment && appointment.reason.length > REASON_MAX)
      violations.push({
        field: 'appointment.reason',
        description: `must be at most ${REASON_MAX} characters`,
      });
    const key = collectViolations(violations, () => idempotencyKey(ctx, request.requestId));
    if (violations.length > 0) throw new ValidationError(violations);

    const mayBook = mayActForClinician(principal, clinicianId ?? '', SchedulingScope.AppointmentsWrite);
    if (!mayBook) throw new PermissionError('not allowed to book appointments for this clinician');
    if (request.recurrence) {
      const occurrences = await bookSeries(deps, ctx, {
        clinicianId: clinicianId ?? '',
        patientId: patientId ?? '',
        appointment: appointment!,
        recurrence: request.recurrence,
        appointmentId: request.appointmentId,
        key,
      });
      return { appointment: occurrences[0], occurrences };
    }

    const appointmentId =
      request.appointmentId || (key ? idempotentResourceId(key, 'appointment') : randomUUID());
    const reason = appointment?.reason ?? '';
    const command: AppointmentCommand = {
      type: 'BookAppointment',
      data: {
        appointmentId,
        clinicianId: clinicianId ?? '',
        patientId: patientId ?? '',
        startTime: appointment?.startTime,
        endTime: appointment?.endTime,
        ...(reason !== '' ? { hasReason: true } : {}),
        now: deps.clock(),
      },
    };
    await loadLivePatient(deps, patientId ?? '');
    // The fingerprint of a request with a reason (PHI) is keyed with the patient's data key.
    const record = key
      ? requestRecord(
          key,
          { appointmentId: request.appointmentId, clinicianId, patientId, ...times(appointment), reason },
          reason !== '' ? (await deps.keys.getOrCreate(patientId ?? '')).key : undefined,
        )
      : undefined;
    const replayed = await replayOf(deps, appointmentId, record);
    if (replayed) return { appointment: toProto(replayed), occurrences: [] };
    // Validate (and refuse a taken id) before touching the schedule or sealing anything.
    const { state: current } = await loadAppointment(deps, appointmentId);
    if (current.status !== 'none') {
      // The first attempt of this request (or the reconciler finishing it) may have completed since the replay
      // check above: then the answer is that first result, not ALREADY_EXISTS.
      const completed = await replayOf(deps, appointmentId, record);
      if (completed) return { appointment: toProto(completed), occurrences: [] };
      throw new AlreadyExistsError(`appointment ${appointmentId} already exists`);
    }
    decide(command, current);
    const metadata = commandMetadata(ctx);
    const sealed = reason !== '' ? await sealPhi(deps.keys, patientId ?? '', { reason }) : undefined;
    await reserveSlot(
      deps,
      metadata,
      {
        clinicianId: clinicianId ?? '',
        appointmentId,
        startTime: appointment?.startTime as Date,
        endTime: appointment?.endTime as Date,
        field: 'appointment.start_time',
        booking: { patientId: patientId ?? '', ...(reason !== '' ? { hasReason: true } : {}) },
        timeZone: deps.settings.timeZone,
      },
      { request: record, phi: sealed },
    );
    // Committed: the booking happens now whatever the caller's deadline says.
    const result = await completeBooking(deps, appointmentId, command, committed(metadata), {
      phi: sealed,
      request: record,
    });
    return { appointment: toProto(result), occurrences: [] };
  };
}

/** What {@link bookSeries} books: the validated first occurrence and the rule. */
interface SeriesBooking {
  readonly clinicianId: string;
  readonly patientId: string;
  readonly appointment: scheduling.Appointment;
  readonly recurrence: scheduling.Recurrence;
  readonly appointmentId: string;
  readonly key: IdempotencyKey | undefined;
}

/**
 * Books a recurring appointment: every occurrence its own appointment (own slot and, when issued, own link),
 * all carrying one series id. Every occurrence is checked against the clinician's schedule first: when any
 * overlaps, nothing is booked and a ValidationError names each one (`occurrences[i].start_time`). A slot taken
 * between that check and an occurrence's reservation cancels the occurrences already booked (each an
 * AppointmentCancelled `booked_in_error` and a ClinicianSlotReleased), then a ValidationError names the taken
 * visit and says none of the series was booked. With a request id, occurrence ids derive from it, so a retry books nothing twice.
 */
async function bookSeries(
  deps: SchedulingDeps,
  ctx: CallContext,
  booking: SeriesBooking,
): Promise<scheduling.Appointment[]> {
  const { clinicianId, patientId, appointment, recurrence, key } = booking;
  const rule: SeriesRule = {
    intervalWeeks: recurrence.intervalWeeks,
    ...(recurrence.count !== 0 ? { count: recurrence.count } : {}),
    ...(recurrence.until ? { until: recurrence.until } : {}),
  };
  const violations = validateSeriesRule(rule, appointment.startTime);
  if (booking.appointmentId !== '')
    violations.push({ field: 'appointment_id', description: 'must be empty for a recurring appointment' });
  if (violations.length > 0) throw new ValidationError(violations);
  const now = deps.clock();
  const seriesId = key ? idempotentResourceId(key, 'series') : randomUUID();
  const idOf = (o: Occurrence) =>
    key ? idempotentResourceId(key, `appointment-${o.occurrence}`) : randomUUID();
  const reason = appointment.reason;
  const commandOf = (
    o: Occurrence,
    appointmentId: string,
  ): Extract<AppointmentCommand, { type: 'BookAppointment' }> => ({
    type: 'BookAppointment',
    data: {
      appointmentId,
      clinicianId,
      patientId,
      startTime: o.startTime,
      endTime: o.endTime,
      ...(reason !== '' ? { hasReason: true } : {}),
      series: { seriesId, occurrence: o.occurrence },
      now,
    },
  });
  // The first occurrence is validated like a single booking (times, ids) before the series is expanded.
  decide(
    commandOf(
      { occurrence: 1, startTime: appointment.startTime as Date, endTime: appointment.endTime as Date },
      'x',
    ),
    initialAppointmentState,
  );
  await loadLivePatient(deps, patientId);
  const planned = expandSeries(
    { startTime: appointment.startTime as Date, endTime: appointment.endTime as Date },
    rule,
    deps.settings.timeZone,
  ).map((o) => ({ ...o, appointmentId: idOf(o) }));

  await checkSeriesAgainstSchedule(deps, clinicianId, planned);

  const metadata = commandMetadata(ctx);
  const sealed = reason !== '' ? await sealPhi(deps.keys, patientId, { reason }) : undefined;
  const booked: ExistingAppointment[] = [];
  for (const [i, o] of planned.entries()) {
    const { state: current } = await loadAppointment(deps, o.appointmentId);
    if (current.status !== 'none') {
      // A retry of this request: the occurrence is there already.
      if (current.series?.seriesId !== seriesId)
        throw new AlreadyExistsError(`appointment ${o.appointmentId} already exists`);
      // Undone after a slot was taken (or cancelled since): a retry does not pass it off as booked.
      if (current.status === 'cancelled')
        throw new PreconditionError(
          'a visit of this recurring booking was cancelled (the booking was undone, or cancelled since); book it again as a new request',
        );
      booked.push(current);
      continue;
    }
    const command = commandOf(o, o.appointmentId);
    try {
      await reserveSlot(
        deps,
        i === 0 ? metadata : committed(metadata),
        {
          clinicianId,
          appointmentId: o.appointmentId,
          startTime: o.startTime,
          endTime: o.endTime,
          field: `occurrences[${i}].start_time`,
          booking: { patientId, ...(reason !== '' ? { hasReason: true } : {}), series: command.data.series! },
          timeZone: deps.settings.timeZone,
        },
        { phi: sealed },
      );
    } catch (error) {
      // Taken since the check: the series is all or nothing.
      await undoSeries(deps, committed(metadata), booked);
      if (!(error instanceof ValidationError)) throw error;
      const which = `visit ${i + 1} of ${planned.length}`;
      const undone =
        booked.length === 0
          ? 'none of the series was booked'
          : `none of the series was booked (the ${booked.length} visit${booked.length === 1 ? '' : 's'} booked before were cancelled)`;
      throw new ValidationError(
        error.violations.map((v) => ({ ...v, description: `${which} ${v.description}; ${undone}` })),
        { cause: error },
      );
    }
    booked.push(await completeBooking(deps, o.appointmentId, command, committed(metadata), { phi: sealed }));
  }
  return booked.map((b) => toProto(b));
}

/**
 * Checks every planned occurrence against the clinician's schedule as it is, before anything is booked. Throws
 * ValidationError naming each occurrence that does not fit (`occurrences[i].start_time`, "visit i of n …").
 */
async function checkSeriesAgainstSchedule(
  deps: SchedulingDeps,
  clinicianId: string,
  planned: readonly (Occurrence & { readonly appointmentId: string })[],
): Promise<void> {
  const { state: schedule } = await loadSchedule(deps, clinicianId);
  const conflicts: FieldViolation[] = [];
  for (const [i, o] of planned.entries()) {
    try {
      decideSchedule(
        {
          type: 'ReserveSlot',
          data: {
            ...o,
            clinicianId,
            field: `occurrences[${i}].start_time`,
            timeZone: deps.settings.timeZone,
          },
        },
        schedule,
      );
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      const which = `visit ${i + 1} of ${planned.length}`;
      conflicts.push(...error.violations.map((v) => ({ ...v, description: `${which} ${v.description}` })));
    }
  }
  if (conflicts.length > 0) throw new ValidationError(conflicts);
}

/**
 * Cancels the occurrences of a series booked so far (each an AppointmentCancelled and a ClinicianSlotReleased),
 * every one even when another fails; throws the first failure after trying them all.
 */
async function undoSeries(
  deps: SchedulingDeps,
  metadata: CommandMetadata,
  booked: readonly ExistingAppointment[],
): Promise<void> {
  const failures: unknown[] = [];
  for (const done of booked) {
    try {
      await cancelOccurrence(deps, metadata, done);
    } catch (error) {
      deps.logger.error(
        { appointmentId: done.appointmentId, err: error },
        'undoing a series occurrence failed',
      );
      failures.push(error);
    }
  }
  if (failures.length > 0) throw failures[0];
}

/** Cancels one occurrence of a series and frees its slot; undefined when it was closed meanwhile. */
async function cancelOccurrence(
  deps: SchedulingDeps,
  metadata: CommandMetadata,
  appointment: ExistingAppointment,
  reasonCode = 'booked_in_error',
): Promise<ExistingAppointment | undefined> {
  try {
    const result = await runAppointmentCommand(
      deps,
      appointment.appointmentId,
      { type: 'CancelAppointment', data: { reasonCode } },
      metadata,
    );
    await freeSlot(deps, metadata, appointment);
    return result.state.status === 'none' ? undefined : result.state;
  } catch (error) {
    if (error instanceof PreconditionError) return undefined; // closed meanwhile
    throw error;
  }
}

function times(appointment: scheduling.Appointment | undefined): { startTime?: string; endTime?: string } {
  return {
    ...(appointment?.startTime ? { startTime: appointment.startTime.toISOString() } : {}),
    ...(appointment?.endTime ? { endTime: appointment.endTime.toISOString() } : {}),
  };
}

/**
 * Appends AppointmentBooked after its reservation. When someone else (the reconciler, or a concurrent retry)
 * booked it first, answers with that booking if it is this one. Throws AlreadyExistsError when the id holds
 * another appointment.
 */
export async function completeBooking(
  deps: SchedulingDeps,
  appointmentId: string,
  command: Extract<AppointmentCommand, { type: 'BookAppointment' }>,
  metadata: CommandMetadata,
  options: AppointmentCommandOptions = {},
): Promise<ExistingAppointment> {
  try {
    const result = await runAppointmentCommand(deps, appointmentId, command, metadata, options);
    if (result.state.status === 'none') throw new Error('appointment not booked');
    return result.state;
  } catch (error) {
    if (!(error instanceof PreconditionError)) throw error;
    const { state } = await loadAppointment(deps, appointmentId);
    const d = command.data;
    if (
      state.status !== 'none' &&
      state.clinicianId === d.clinicianId &&
      state.patientId === d.patientId &&
      Date.parse(state.startTime) === d.startTime?.getTime()
    ) {
      return state;
    }
    throw new AlreadyExistsError(`appointment ${appointmentId} already exists`, { cause: error });
  }
}
async function openReason(deps: SchedulingDeps, state: ExistingAppointment): Promise<string> {
  if (!state.reasonPhi) return '';
  const phi = await openPhi(deps.keys, state.reasonPhi);
  return typeof phi['reason'] === 'string' ? phi['reason'] : '';
}

/**
 * GetAppointment. BASIC view: no PHI. FULL view: purpose required; the reason is opened, PhiAccessed is
 * recorded, then the answer leaves. Clinicians see only their own; front desk and admin see all.
 */
export function getAppointment(deps: SchedulingDeps) {
  return async (
    request: scheduling.GetAppointmentRequest,
    ctx: CallContext,
  ): Promise<scheduling.GetAppointmentResponse> => {
    const principal = requirePrincipal(ctx);
    const id = requireResourceId(request.name, 'appointments');
    const full = request.view === scheduling.AppointmentView.APPOINTMENT_VIEW_FULL;
    const why = full ? requirePurpose(request.purpose) : '';
    const state = await loadVisibleAppointment(deps, principal, id, SchedulingScope.AppointmentsRead);
    if (!full) return { appointment: toProto(state) };
    const reason = await openReason(deps, state);
    await recordPhiAccess(deps, {
      principal,
      ctx,
      patientId: state.patientId,
      what: `appointments/${id}`,
      fields: ['reason'],
      why,
      outcome: 'granted',
    });
    return { appointment: toProto(state, reason) };
  };
}

/**
 * RescheduleAppointment: reserves the new slot on the clinician's schedule (the move commits there), then moves
 * the appointment (or the reconciler does, when this handler dies in between).
 */
export function rescheduleAppointment(deps: SchedulingDeps) {
  return async (
    request: scheduling.RescheduleAppointmentRequest,
    ctx: CallContext,
  ): Promise<scheduling.RescheduleAppointmentResponse> => {
    const principal = requirePrincipal(ctx);
    const id = requireResourceId(request.name, 'appointments');
    const key = idempotencyKey(ctx, request.requestId);
    const state = await loadVisibleAppointment(deps, principal, id, SchedulingScope.AppointmentsWrite);
    const record = key
      ? requestRecord(key, {
          name: request.name,
          startTime: request.startTime?.toISOString(),
          endTime: request.endTime?.toISOString(),
          etag: request.etag,
        })
      : undefined;
    const replayed = await replayOf(deps, id, record);
    if (replayed) return { appointment: toProto(replayed) };
    checkEtag(state, request.etag);
    const command: AppointmentCommand = {
      type: 'RescheduleAppointment',
      data: { startTime: request.startTime, endTime: request.endTime, now: deps.clock() },
    };
    if (decide(command, state).length === 0) return { appointment: toProto(state) };
    const metadata = commandMetadata(ctx);
    await reserveSlot(
      deps,
      metadata,
      {
        clinicianId: state.clinicianId,
        appointmentId: id,
        startTime: request.startTime as Date,
        endTime: request.endTime as Date,
        field: 'start_time',
        timeZone: deps.settings.timeZone,
      },
      { request: record },
    );
    const result = await runAppointmentCommand(deps, id, command, committed(metadata), { request: record });
    return { appointment: toProto(result.state) };
  };
}

const REASON_CODES: Record<number, string> = {
  [scheduling.CancellationReason.CANCELLATION_REASON_UNSPECIFIED]: 'unspecified',
  [scheduling.CancellationReason.CANCELLATION_REASON_PATIENT_REQUEST]: 'patient_request',
  [scheduling.CancellationReason.CANCELLATION_REASON_CLINICIAN_UNAVAILABLE]: 'clinician_unavailable',
  [scheduling.CancellationReason.CANCELLATION_REASON_BOOKED_IN_ERROR]: 'booked_in_error',
  [scheduling.CancellationReason.CANCELLATION_REASON_OTHER]: 'other',
};

/**
 * CancelAppointment (reason code): the appointment's links stop working; the slot is released (by the
 * reconciler when this handler dies after the cancellation).
 */
export function cancelAppointment(deps: SchedulingDeps) {
  return async (
    request: scheduling.CancelAppointmentRequest,
    ctx: CallContext,
  ): Promise<scheduling.CancelAppointmentResponse> => {
    let reasonCode = '';
    const { appointment, state } = await closeAppointment(deps, ctx, request, () => {
      const code = REASON_CODES[request.reason];
      if (code === undefined)
        throw new ValidationError([{ field: 'reason', description: 'is not a known reason' }]);
      reasonCode = code;
      const record = { reason: code, ...(request.includeFollowing ? { includeFollowing: true } : {}) };
      return { command: { type: 'CancelAppointment', data: { reasonCode: code } }, record };
    });
    const series = state.series;
    if (!request.includeFollowing || !series) return { appointment, following: [] };
    // "This and the following": the later occurrences still scheduled, in order, that the caller may cancel.
    const principal = requirePrincipal(ctx);
    const later = [...deps.readModel.appointments()]
      .filter(
        (a) =>
          a.series?.seriesId === series.seriesId &&
          a.series.occurrence > series.occurrence &&
          a.status === 'booked' &&
          mayActForClinician(principal, a.clinicianId, SchedulingScope.AppointmentsWrite),
      )
      .sort((a, b) => (a.series?.occurrence ?? 0) - (b.series?.occurrence ?? 0));
    const metadata = committed(commandMetadata(ctx));
    const following: scheduling.Appointment[] = [];
    for (const a of later) {
      const done = await cancelOccurrence(deps, metadata, a, reasonCode);
      if (done) following.push(toProto(done));
    }
    return { appointment, following };
  };
}

/**
 * Closes an appointment by a cancellation or a no-show (idempotent by request id, guarded by the etag), then frees
 * its slot. `close` checks the command's own fields, after the name and before anything is read.
 */
async function closeAppointment(
  deps: SchedulingDeps,
  ctx: CallContext,
  request: { name: string; requestId: string; etag: string },
  close: () => { command: AppointmentCommand; record: Record<string, unknown> },
): Promise<{ appointment: scheduling.Appointment; state: ExistingAppointment }> {
  const principal = requirePrincipal(ctx);
  const id = requireResourceId(request.name, 'appointments');
  const { command, record } = close();
  const key = idempotencyKey(ctx, request.requestId);
  const state = await loadVisibleAppointment(deps, principal, id, SchedulingScope.AppointmentsWrite);
  const metadata = commandMetadata(ctx);
  const result = await runAppointmentCommand(deps, id, command, metadata, {
    request: key ? requestRecord(key, { name: request.name, ...record, etag: request.etag }) : undefined,
    guard: (s) => checkEtag(s, request.etag),
  });
  if (!result.replayed) await freeSlot(deps, committed(metadata), state);
  return { appointment: toProto(result.state), state };
}

/**
 * Releases the slot of an appointment that was just closed (cancelled, completed, marked no-show), so the time
 * can be booked again. Throws nothing: when the release fails, the booking reconciler releases it.
 */
export async function freeSlot(
  deps: Pick<SchedulingDeps, 'store' | 'snapshots' | 'clock' | 'logger'>,
  metadata: CommandMetadata,
  appointment: Pick<ExistingAppointment, 'clinicianId' | 'appointmentId'>,
): Promise<void> {
  const { clinicianId, appointmentId } = appointment;
  try {
    await releaseSlot(deps, metadata, { clinicianId, appointmentId });
  } catch (error) {
    deps.logger.warn({ err: error, appointmentId }, 'could not release the closed slot yet');
  }
}

/** MarkNoShow: only once the appointment has started; the slot is freed (as for a cancellation). */
export function markNoShow(deps: SchedulingDeps) {
  return async (
    request: scheduling.MarkNoShowRequest,
    ctx: CallContext,
  ): Promise<scheduling.MarkNoShowResponse> => {
    const { appointment } = await closeAppointment(deps, ctx, request, () => ({
      command: { type: 'MarkNoShow', data: { now: deps.clock() } },
      record: {},
    }));
    return { appointment };
  };
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;

/**
 * ListAppointments by start time, filtered by clinician, patient, day (in a time zone) and states; pages of
 * `page_size` with opaque tokens. A clinician lists only their own. FULL view records PhiAccessed per
 * appointment returned with a reason.
 */
export function listAppointments(deps: SchedulingDeps) {
  return async (
    request: scheduling.ListAppointmentsRequest,
    ctx: CallContext,
  ): Promise<scheduling.ListAppointmentsResponse> => {
    const principal = requirePrincipal(ctx);
    const violations: FieldViolation[] = [];
    const pageSize =
      collectViolations(violations, () => pageSizeOf(request.pageSize, { defaultSize: 50, maxSize: 200 })) ??
      0;
    let clinicianId = request.clinician === '' ? undefined : idFromName(request.clinician, 'users');
    if (request.clinician !== '' && !clinicianId)
      violations.push({ field: 'clinician', description: 'must be users/{user}' });
    const patientId = request.patient === '' ? undefined : idFromName(request.patient, 'patients');
    if (request.patient !== '' && !patientId)
      violations.push({ field: 'patient', description: 'must be patients/{patient}' });
    const timeZone = request.timeZone || 'UTC';
    let dayOf: Intl.DateTimeFormat | undefined;
    try {
      dayOf = new Intl.DateTimeFormat('en-CA', {
        timeZone,
        year: 'numeric',
        month: '2-digit',
        day: '2-digit',
      });
    } catch {
      violations.push({ field: 'time_zone', description: 'must be an IANA time zone' });
    }
    if (request.day !== '' && !DAY.test(request.day))
      violations.push({ field: 'day', description: 'must be YYYY-MM-DD' });
    const full = request.view === scheduling.AppointmentView.APPOINTMENT_VIEW_FULL;
    const why = full ? (collectViolations(violations, () => requirePurpose(request.purpose)) ?? '') : '';
    if (violations.length > 0) throw new ValidationError(violations);
    if (!isStaff(principal, SchedulingScope.AppointmentsRead)) {
      if (!isClinician(principal)) throw new PermissionError('this role may not list appointments');
      if (clinicianId !== undefined && clinicianId !== principal.id) {
        throw new PermissionError('a clinician lists only their own appointments');
      }
      clinicianId = principal.id;
    }
    const states = new Set(request.states);
    const filter = [
      'appointments',
      clinicianId,
      patientId,
      request.day,
      timeZone,
      [...states].sort(),
      request.view,
    ];
    const after = decodePageToken(request.pageToken, filter, isPageKeyPair);
    const key = (a: ExistingAppointment): [string, string] => [a.startTime, a.appointmentId];
    const cmp = (a: readonly [string, string], b: readonly [string, string]) =>
      a[0] === b[0] ? (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0) : a[0] < b[0] ? -1 : 1;
    const matching = [...deps.readModel.appointments()]
      .filter(
        (a) =>
          (clinicianId === undefined || a.clinicianId === clinicianId) &&
          (patientId === undefined || a.patientId === patientId) &&
          (states.size === 0 || states.has(STATE_OF[a.status])) &&
          (request.day === '' || dayOf?.format(new Date(a.startTime)) === request.day) &&
          (after === undefined || cmp(key(a), after) > 0),
      )
      .sort((a, b) => cmp(key(a), key(b)));
    const page = matching.slice(0, pageSize);
    const last = page[page.length - 1];
    const nextPageToken = matching.length > pageSize && last ? encodePageToken(filter, key(last)) : '';
    if (!full) return { appointments: page.map((a) => toProto(a)), nextPageToken };
    const out: scheduling.Appointment[] = [];
    for (const a of page) {
      if (!a.reasonPhi) {
        out.push(toProto(a, ''));
        continue;
      }
      const reason = await openReason(deps, a).catch(() => undefined);
      if (reason === undefined) {
        out.push(toProto(a)); // erased: no PHI to show
        continue;
      }
      await recordPhiAccess(deps, {
        principal,
        ctx,
        patientId: a.patientId,
        what: `appointments/${a.appointmentId}`,
        fields: ['reason'],
        why,
        outcome: 'granted',
      });
      out.push(toProto(a, reason));
    }
    return { appointments: out, nextPageToken };
  };
}
