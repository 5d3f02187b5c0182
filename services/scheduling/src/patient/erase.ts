/**
 * ErasePatient (admin): the patient's right to be forgotten by crypto-shredding. `PatientErased` (id and reason
 * code only) is appended first, then the patient's data key is destroyed; every PHI field, secure message and
 * appointment reason sealed with it stays in the immutable event log as ciphertext nobody can open. A crash
 * between the two is finished by {@link ErasureFinisher} when the read model replays the event on start, and a
 * retried call finishes it too (both idempotent). The session and recording services follow the event for the
 * chat keys and the recordings they keep.
 */
import { PermissionError, PreconditionError } from '@haven/errors';
import type { PatientKeyStore } from '@haven/crypto';
import type { PositionedEvent } from '@haven/eventstore';
import { scheduling } from '@haven/proto';
import {
  commandMetadata,
  handleCommand,
  loadAggregate,
  requirePrincipal,
  type CallContext,
  type Logger,
} from '@haven/service';
import { evolve, initialAppointmentState } from '../appointment/appointment';
import { appointmentStream } from '../appointment/grpc';
import type { SchedulingDeps } from '../deps';
import { requireResourceId } from '../ids';
import { visitStream } from '../session-follower';
import { decidePatient } from './decide';
import {
  evolvePatient,
  initialPatientState,
  patientStream,
  PatientEventType,
  type PatientErasureRefused,
  type PatientState,
} from './patient';

/**
 * An erasure refused because of the patient's appointments (FAILED_PRECONDITION); its ErrorInfo reason is the
 * blocker, `FUTURE_APPOINTMENT` or `VISIT_IN_PROGRESS`, for clients to explain it.
 */
export class ErasureBlockedError extends PreconditionError {
  constructor(
    message: string,
    readonly reason: PatientErasureRefused['data']['blocker'],
  ) {
    super(message);
  }
}

const ADMITTED = 'haven.session.v1.ParticipantAdmitted';
const VISIT_ENDED = 'haven.session.v1.VisitEnded';
const REASON_PREFIX = 'PATIENT_ERASURE_REASON_';

/** The code of a request's reason (`PATIENT_REQUEST`); '' when unset or unknown (the decider refuses it). */
function reasonCode(reason: scheduling.PatientErasureReason): string {
  const name = scheduling.patientErasureReasonToJSON(reason);
  return name.startsWith(REASON_PREFIX) && !name.endsWith('_UNSPECIFIED')
    ? name.slice(REASON_PREFIX.length)
    : '';
}

/**
 * The patient's appointments that block an erasure: booked ones whose visit admitted someone and has not ended,
 * or whose slot is now (in progress), and booked ones still to come. Candidates come from the read model; each
 * is re-read from its own stream and its visit's.
 */
async function blockers(
  deps: Pick<SchedulingDeps, 'store' | 'readModel'>,
  patientId: string,
  now: Date,
): Promise<{ futureAppointments: string[]; visitsInProgress: string[] }> {
  const futureAppointments: string[] = [];
  const visitsInProgress: string[] = [];
  const candidates = [...deps.readModel.appointments()].filter(
    (a) => a.patientId === patientId && a.status === 'booked',
  );
  for (const candidate of candidates) {
    const { state } = await loadAggregate({
      store: deps.store,
      stream: appointmentStream(candidate.appointmentId),
      evolve,
      initialState: initialAppointmentState,
    });
    if (state.status !== 'booked') continue;
    const visit = await deps.store.read(visitStream(state.appointmentId));
    const admitted = visit.some((e) => e.type === ADMITTED);
    const ended = visit.some((e) => e.type === VISIT_ENDED);
    if (ended) continue; // over (the appointment completes as scheduling follows the session)
    if (admitted) visitsInProgress.push(state.appointmentId);
    else if (Date.parse(state.startTime) > now.getTime()) futureAppointments.push(state.appointmentId);
    else if (Date.parse(state.endTime) > now.getTime()) visitsInProgress.push(state.appointmentId);
  }
  return { futureAppointments, visitsInProgress };
}

function refusalMessage(refused: PatientErasureRefused['data']): string {
  const n = refused.appointmentIds.length;
  return refused.blocker === 'VISIT_IN_PROGRESS'
    ? `the patient has a visit in progress (${refused.appointmentIds.join(', ')}); end it first`
    : `the patient has ${n} appointment${n === 1 ? '' : 's'} to come (${refused.appointmentIds.join(', ')}); cancel ${n === 1 ? 'it' : 'them'} first`;
}

/** ErasePatient. */
export function erasePatient(deps: SchedulingDeps) {
  return async (
    request: scheduling.ErasePatientRequest,
    ctx: CallContext,
  ): Promise<scheduling.ErasePatientResponse> => {
    const principal = requirePrincipal(ctx);
    if (principal.kind !== 'user' || principal.role !== 'admin') {
      throw new PermissionError('only an admin may erase a patient');
    }
    const patientId = requireResourceId(request.name, 'patients');
    const now = deps.clock();
    const result = await handleCommand({
      store: deps.store,
      stream: patientStream(patientId),
      decide: decidePatient,
      evolve: evolvePatient,
      initialState: initialPatientState,
      command: {
        type: 'ErasePatient' as const,
        data: { patientId, reason: reasonCode(request.reason), ...(await blockers(deps, patientId, now)) },
      },
      metadata: commandMetadata(ctx),
      now: deps.clock,
    });
    const refused = result.events.find((e) => e.type === PatientEventType.ErasureRefused);
    if (refused) {
      const data = refused.data as PatientErasureRefused['data'];
      deps.logger.info({ patientId, blocker: data.blocker }, 'patient erasure refused');
      throw new ErasureBlockedError(refusalMessage(data), data.blocker);
    }
    const state = result.state as Extract<PatientState, { status: 'registered' }>;
    await deps.keys.destroy(patientId);
    deps.readModel.putPatient(state);
    if (result.events.length > 0) {
      deps.logger.info({ patientId, reasonCode: state.erased?.reason }, 'patient erased; key destroyed');
    }
    return {
      name: `patients/${patientId}`,
      eraseTime: state.erased?.at ? new Date(state.erased.at) : now,
      reason: scheduling.patientErasureReasonFromJSON(`${REASON_PREFIX}${state.erased?.reason ?? ''}`),
    };
  };
}

/**
 * Finishes erasures after a crash: the read model replays every event on start, and each `PatientErased` it
 * sees destroys the patient's key again (idempotent; a destroyed key stays destroyed). One at a time; a failure
 * is logged and retried by the next start or a retried ErasePatient.
 */
export class ErasureFinisher {
  #queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly keys: PatientKeyStore,
    private readonly logger: Logger,
  ) {}

  /** Sees one event of the scheduling context. */
  observe(event: Pick<PositionedEvent, 'type' | 'data'>): void {
    if (event.type !== PatientEventType.Erased) return;
    const patientId = event.data['patientId'];
    if (typeof patientId !== 'string' || patientId === '') return;
    this.#queue = this.#queue.then(() =>
      this.keys.destroy(patientId).catch((error: unknown) => {
        this.logger.error({ err: error, patientId }, 'could not destroy an erased patient’s key');
      }),
    );
  }

  /** Resolves when every erasure seen so far was finished (or failed and was logged). */
  idle(): Promise<void> {
    return this.#queue;
  }
}
