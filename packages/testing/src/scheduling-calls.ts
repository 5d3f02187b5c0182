/**
 * The front desk's calls over scheduling's gRPC API, for suites that book through the real service: register a
 * patient, book a visit, issue its patient link, redeem the link.
 */
import type * as grpc from '@grpc/grpc-js';
import { scheduling } from '@haven/proto';
import { callUnary, clientCallMetadata } from '@haven/service';

/** A scheduling client and the call metadata of whoever books with it (the front desk, usually). */
export interface Desk {
  readonly client: scheduling.SchedulingServiceClient;
  readonly metadata: () => Promise<grpc.Metadata> | grpc.Metadata;
}

/** A start time `ms` from now, rounded up to a whole `unitMs` (a minute unless given). */
export const startIn = (ms: number, unitMs = 60_000): Date =>
  new Date(Math.ceil((Date.now() + ms) / unitMs) * unitMs);

/** Creates the patient; resolves with its resource name (`patients/…`). Throws the call's error when refused. */
export async function createPatient(desk: Desk, patient: Partial<scheduling.Patient>): Promise<string> {
  const created = await callUnary(
    desk.client,
    'createPatient',
    scheduling.CreatePatientRequest.fromPartial({ patient }),
    await desk.metadata(),
  );
  return created.patient!.name;
}

/**
 * Books `patient` (a resource name) with `clinician` (`users/…`) from `start`, for `minutes` (30 unless given).
 * Throws the call's error when refused.
 */
export async function bookVisit(
  desk: Desk,
  visit: {
    readonly patient: string;
    readonly clinician: string;
    readonly start: Date;
    readonly minutes?: number | undefined;
    readonly reason?: string;
  },
): Promise<scheduling.Appointment> {
  const booked = await callUnary(
    desk.client,
    'bookAppointment',
    scheduling.BookAppointmentRequest.fromPartial({
      appointment: {
        clinician: visit.clinician,
        patient: visit.patient,
        ...(visit.reason !== undefined ? { reason: visit.reason } : {}),
        startTime: visit.start,
        endTime: new Date(visit.start.getTime() + (visit.minutes ?? 30) * 60_000),
      },
    }),
    await desk.metadata(),
  );
  return booked.appointment!;
}

/** Issues the patient link of `appointment` (a resource name). Throws the call's error when refused. */
export async function issueLink(
  desk: Desk,
  appointment: string,
): Promise<scheduling.IssuePatientLinkResponse> {
  return callUnary(
    desk.client,
    'issuePatientLink',
    scheduling.IssuePatientLinkRequest.fromPartial({ appointment }),
    await desk.metadata(),
  );
}

/** Redeems `link` as the patient (no token): the patient's access token and resource name. Throws when refused. */
export async function redeemLink(
  client: scheduling.SchedulingServiceClient,
  link: Pick<scheduling.IssuePatientLinkResponse, 'token' | 'passcode'>,
): Promise<scheduling.RedeemPatientLinkResponse> {
  return callUnary(
    client,
    'redeemPatientLink',
    scheduling.RedeemPatientLinkRequest.fromPartial({ token: link.token, passcode: link.passcode }),
    clientCallMetadata({}),
  );
}
