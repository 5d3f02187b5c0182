/**
 * The front desk's JSON: appointments (`/api/appointments*`), a patient's link, the directories the booking form
 * picks from (`GET /api/clinicians`, `GET /api/patients`), and an erased patient (`POST /api/patients/:id/erase`). Types only and no imports: the browser app
 * (web/src/staff/types.ts) imports this file as well, so each wire shape has one definition.
 */

/** An appointment's state word. */
export type AppointmentStateName = 'scheduled' | 'in_progress' | 'completed' | 'cancelled' | 'no_show';

/** An appointment as the browser sees it (never the reason: PHI). */
export interface AppointmentView {
  readonly id: string;
  readonly clinicianId: string;
  readonly patientId: string;
  readonly startTime: string | null;
  readonly endTime: string | null;
  readonly state: AppointmentStateName;
  readonly visitId: string | null;
  /** A recurring appointment's series, and which visit of it (from 1); both absent for a single one. */
  readonly seriesId?: string;
  readonly occurrence?: number;
}

/** `GET /api/appointments` (a clinician's or everyone's, over a time range). */
export interface AppointmentListView {
  readonly appointments: readonly AppointmentView[];
}

/**
 * The booked appointment as `POST /api/appointments` answers it: the API's proto JSON (resource names, enum
 * names, times as ISO 8601; the reason emptied), not an AppointmentView. Only the fields pages read are typed.
 */
export interface BookedAppointmentJson {
  readonly name: string;
  readonly startTime?: string;
  readonly endTime?: string;
}

/** `POST /api/appointments`: the booking, and every occurrence of a recurring one, in order. */
export interface BookingView {
  readonly appointment: BookedAppointmentJson | null;
  readonly occurrences: readonly AppointmentView[];
}

/** `POST /api/appointments/:id/link`: the patient's link and passcode, shown once. */
export interface PatientLinkView {
  readonly url: string;
  readonly passcode: string;
  /** From when the link works (a while before the start), ISO 8601; null when the start is not known. */
  readonly validFrom: string | null;
  readonly validUntil: string | null;
  /** Whether the patient must also give their date of birth. */
  readonly dateOfBirthRequired: boolean;
}

/** A visit of today's in the front desk's day view (`GET /api/appointments/waiting`): counts only, no names. */
export interface WaitingView {
  readonly appointmentId: string;
  readonly status: string;
  /** Non-clinicians in the lobby. */
  readonly waiting: number;
  /** Non-clinicians admitted. */
  readonly inVisit: number;
}

/** `GET /api/appointments/waiting`. */
export interface WaitingListView {
  readonly visits: readonly WaitingView[];
}

/** A clinician in the directory (`GET /api/clinicians`). */
export interface ClinicianView {
  readonly id: string;
  readonly displayName: string;
}

/** `GET /api/clinicians`. */
export interface ClinicianListView {
  readonly clinicians: readonly ClinicianView[];
}

/** A patient in the booking form's list (`GET /api/patients?purpose=treatment`: a PHI read, name and birth date). */
export interface PatientView {
  readonly id: string;
  readonly name: string;
  readonly dateOfBirth: string;
}

/** One message to the patient about an appointment (`GET /api/appointments/:id/deliveries`; codes and times). */
export interface DeliveryView {
  readonly id: string;
  /** `invitation`, `rescheduled`, `cancelled`, `reminder`, `passcode`, `messages_link` or `unknown`. */
  readonly kind: string;
  /** `email`, `sms` or `unknown`. */
  readonly channel: string;
  /** `scheduled`, `sending`, `sent`, `failed`, `suppressed` or `unknown`. */
  readonly state: string;
  readonly reason: string;
  readonly offsetMinutes: number;
  readonly dueTime: string | null;
  readonly updateTime: string | null;
  readonly attempts: number;
}

/** `GET /api/appointments/:id/deliveries` */
export interface DeliveryListView {
  readonly deliveries: readonly DeliveryView[];
}

/** `POST /api/patients/:id/erase`: the patient's record is erased (the reason's code, never free text). */
export interface PatientErasedView {
  readonly patient: {
    readonly id: string;
    readonly erased: true;
    readonly erasedAt: string | null;
    /** `patient_request`, `registered_in_error`, …; empty for a reason newer than this gateway. */
    readonly reason: string;
  };
}

/** `GET /api/patients` */
export interface PatientListView {
  readonly patients: readonly PatientView[];
}

/** `POST /api/patients`: the new patient's id. */
export interface PatientCreatedView {
  readonly patient: { readonly id: string };
}

/** `GET /api/patients/:id`: the patient's name only (a PHI read, recorded with its purpose). */
export interface PatientNameView {
  readonly patient: { readonly id: string; readonly name: string };
}
