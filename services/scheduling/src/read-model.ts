/**
 * An in-memory read model of the scheduling context for listing: appointments and patients, rebuilt from the
 * event store on start (subscription from the beginning) and kept current by the subscription and by the
 * handlers of this replica (read-your-writes). Decisions never use it: they load their aggregate streams.
 */
import {
  followStore,
  type ConsumerHealth,
  type EventStore,
  type PositionedEvent,
  type Subscription,
} from '@haven/eventstore';
import {
  CLINIC_SETTINGS_STREAM,
  clinicSettingsInForce,
  evolveClinicSettings,
  type ClinicSettings,
  type ClinicSettingValues,
  type Logger,
  type SavedClinicSettings,
} from '@haven/service';
import { evolve, initialAppointmentState, type ExistingAppointment } from './appointment/appointment';
import { evolvePatient, initialPatientState, type PatientState } from './patient/patient';

export type RegisteredPatient = Extract<PatientState, { status: 'registered' }>;

const APPOINTMENT_PREFIX = 'scheduling.appointment-';
const PATIENT_PREFIX = 'scheduling.patient-';

/** The read model. */
export class SchedulingReadModel {
  readonly #appointments = new Map<string, ExistingAppointment>();
  readonly #patients = new Map<string, RegisteredPatient>();
  /** `clinician \0 patient` of every appointment (an appointment's clinician and patient never change). */
  readonly #pairs = new Set<string>();
  /** The fields of the clinic's settings an admin saved (the others are the defaults) and the revision last folded. */
  #clinic: { settings: SavedClinicSettings; revision: number } = { settings: {}, revision: -1 };

  /** Folds one stored event (from the subscription); out-of-order or already-seen revisions are ignored. */
  apply(
    event: Pick<PositionedEvent, 'stream' | 'revision' | 'type' | 'data'> & Partial<PositionedEvent>,
  ): void {
    const revision = Number(event.revision);
    if (event.stream.startsWith(APPOINTMENT_PREFIX)) {
      const id = event.stream.slice(APPOINTMENT_PREFIX.length);
      const current = this.#appointments.get(id);
      if (revision !== (current?.revision ?? -1) + 1) return;
      const next = evolve(current ?? initialAppointmentState, event);
      if (next.status !== 'none') this.#setAppointment(id, next);
    } else if (event.stream === CLINIC_SETTINGS_STREAM) {
      if (revision <= this.#clinic.revision) return;
      this.#clinic = { settings: evolveClinicSettings(this.#clinic.settings, event), revision };
    } else if (event.stream.startsWith(PATIENT_PREFIX)) {
      const id = event.stream.slice(PATIENT_PREFIX.length);
      const current = this.#patients.get(id);
      if (revision !== (current?.revision ?? -1) + 1) return;
      const next = evolvePatient(current ?? initialPatientState, event);
      if (next.status === 'registered') this.#patients.set(id, next);
    }
  }

  /** Records the state a handler of this replica just produced, when newer than what is known. */
  putAppointment(state: ExistingAppointment): void {
    const current = this.#appointments.get(state.appointmentId);
    if (!current || state.revision > current.revision) this.#setAppointment(state.appointmentId, state);
  }

  #setAppointment(id: string, state: ExistingAppointment): void {
    this.#appointments.set(id, state);
    this.#pairs.add(`${state.clinicianId}\0${state.patientId}`);
  }

  /** Records a patient a handler of this replica just registered. */
  putPatient(state: RegisteredPatient): void {
    const current = this.#patients.get(state.patientId);
    if (!current || state.revision > current.revision) this.#patients.set(state.patientId, state);
  }

  /** The clinic's settings in force: the saved ones over the deployment's defaults. */
  clinicSettings(defaults: ClinicSettingValues): ClinicSettings {
    return clinicSettingsInForce(this.#clinic.settings, defaults);
  }

  /** Only the fields of the clinic's settings an admin saved. */
  savedClinicSettings(): SavedClinicSettings {
    return this.#clinic.settings;
  }

  appointments(): IterableIterator<ExistingAppointment> {
    return this.#appointments.values();
  }

  patients(): IterableIterator<RegisteredPatient> {
    return this.#patients.values();
  }

  /** True when the clinician has (or had) an appointment with the patient. */
  clinicianSeesPatient(clinicianId: string, patientId: string): boolean {
    return this.#pairs.has(`${clinicianId}\0${patientId}`);
  }

  /**
   * Follows the scheduling context from the start (consumer `scheduling.read-model`, self-healing, reported to
   * `health`). Resolves once the first subscription attempt was made. `observer` sees every event after the
   * read model folded it (the booking reconciler follows the same feed).
   */
  follow(
    store: EventStore,
    logger: Logger,
    options: { observer?: (event: PositionedEvent) => void; health?: ConsumerHealth } = {},
  ): Promise<Subscription> {
    const { observer, health } = options;
    return followStore(store, {
      name: 'scheduling.read-model',
      from: 'start',
      logger,
      ...(health ? { health } : {}),
      contexts: ['scheduling.'],
      handler: async (event) => {
        try {
          this.apply(event);
          observer?.(event);
        } catch (error) {
          logger.error(
            { err: error, stream: event.stream, type: event.type },
            'read model could not fold an event',
          );
        }
      },
    });
  }
}
