/**
 * Patient links: IssuePatientLink (staff, or the appointment's clinician) returns the token and passcode once,
 * storing only their hashes; RedeemPatientLink (public) trades token + passcode (+ date of birth) for a
 * short-lived patient token bound to the appointment's visit. Wrong passcodes are counted and lock the link.
 */
import { randomUUID } from 'node:crypto';
import { PreconditionError, UnauthenticatedError, ValidationError, type FieldViolation } from '@haven/errors';
import { sealPhi } from '@haven/crypto';
import { scheduling } from '@haven/proto';
import { callMetadata, commandMetadata, requirePrincipal, type CallContext } from '@haven/service';
import { loadAppointment, loadVisibleAppointment, runAppointmentCommand } from '../appointment/grpc';
import {
  AppointmentEventType,
  type AppointmentEvent,
  type ExistingAppointment,
} from '../appointment/appointment';
import { decide, linkWindow, LinkPolicy, patientTokenExpiry } from '../appointment/decide';
import { LINK_NOT_VALID, wrongPasscodeRefusal } from '../appointment/link-policy';
import { SchedulingScope } from '../access';
import type { SchedulingDeps } from '../deps';
import { requireResourceId } from '../ids';
import { loadPatient, openPatientPhi } from '../patient/grpc';
import { loadMessagesLink, redeemMessagesLink } from '../message/messages-link-grpc';
import { completeIfVisitEnded } from '../session-follower';
import { isCalendarDate } from '../patient/decide';
import {
  hashPasscode,
  isLinkTokenShape,
  linkTokenHash,
  newLinkToken,
  newPasscode,
  verifyPasscode,
} from './secrets';
import { indexedByToken, indexLinkToken } from './token-index';

export const LINK_INDEXED = 'haven.scheduling.v1.PatientLinkIndexed';

/** The index stream of a link token: its hash → the appointment. */
export function linkIndexStream(tokenSha256: string): string {
  return `scheduling.patient_link-${tokenSha256}`;
}

function linkProto(state: ExistingAppointment): scheduling.PatientLink {
  const link = state.link!;
  return scheduling.PatientLink.fromPartial({
    name: `appointments/${state.appointmentId}/patientLinks/${link.linkId}`,
    expireTime: linkWindow(state).closes,
    dateOfBirthRequired: link.dateOfBirthRequired,
    createTime: new Date(link.issuedAt),
  });
}

/** IssuePatientLink: a new token and passcode; the previous link of the appointment stops working. */
export function issuePatientLink(deps: SchedulingDeps) {
  return async (
    request: scheduling.IssuePatientLinkRequest,
    ctx: CallContext,
  ): Promise<scheduling.IssuePatientLinkResponse> => {
    const principal = requirePrincipal(ctx);
    const appointmentId = requireResourceId(request.appointment, 'appointments', 'appointment');
    const state = await loadVisibleAppointment(
      deps,
      principal,
      appointmentId,
      SchedulingScope.AppointmentsWrite,
    );
    const token = newLinkToken();
    const passcode = newPasscode();
    const tokenSha256 = linkTokenHash(token);
    const linkId = randomUUID();
    const command = {
      type: 'IssuePatientLink' as const,
      data: {
        linkId,
        tokenSha256,
        passcodeHash: await hashPasscode(passcode),
        dateOfBirthRequired: deps.settings.requireDobCheck || request.requireDateOfBirth,
        now: deps.clock(),
        // The clinic's link grace now; the link keeps it when the setting changes later.
        ...(deps.settings.linkGraceMinutes !== undefined
          ? { graceMinutes: deps.settings.linkGraceMinutes }
          : {}),
      },
    };
    decide(command, state); // refuse a cancelled or finished appointment before indexing anything
    const metadata = commandMetadata(ctx);
    await indexLinkToken(
      deps,
      {
        stream: linkIndexStream(tokenSha256),
        type: LINK_INDEXED,
        data: { tokenSha256, appointmentId, linkId },
      },
      metadata,
    );
    // The token travels sealed with the patient's key, so the reminder outbox can send the current link
    // (shredding the patient's key makes it unreadable like the rest of their PHI). The passcode is kept (sealed
    // the same way) only when the clinic sends it by the other channel than the link; otherwise never.
    const sendsPasscode = (deps.settings.passcodeDelivery ?? 'front-desk') !== 'front-desk';
    const phi = await sealPhi(deps.keys, state.patientId, {
      linkToken: token,
      ...(sendsPasscode ? { passcode } : {}),
    });
    const result = await runAppointmentCommand(deps, appointmentId, command, metadata, { phi });
    if (result.state.status === 'none') throw new Error('appointment vanished');
    deps.logger.info({ appointmentId, linkId }, 'patient link issued');
    return {
      patientLink: linkProto(result.state),
      token,
      passcode,
      url: `${deps.settings.publicUrl.replace(/\/+$/, '')}/join#${token}`,
    };
  };
}

/**
 * RedeemPatientLink (public): refuses cancelled, ended, replaced, not-yet-open, expired and locked links with
 * a clear FAILED_PRECONDITION; counts wrong passcodes (PassCodeAttemptFailed) and locks after five; on success
 * records PatientLinkRedeemed and returns a patient token.
 */
export function redeemPatientLink(deps: SchedulingDeps) {
  return async (
    request: scheduling.RedeemPatientLinkRequest,
    ctx: CallContext,
  ): Promise<scheduling.RedeemPatientLinkResponse> => {
    const violations: FieldViolation[] = [];
    if (request.token === '') violations.push({ field: 'token', description: 'is required' });
    if (request.passcode === '') violations.push({ field: 'passcode', description: 'is required' });
    if (request.dateOfBirth !== '' && !isCalendarDate(request.dateOfBirth))
      violations.push({ field: 'date_of_birth', description: 'must be a date YYYY-MM-DD' });
    if (violations.length > 0) throw new ValidationError(violations);
    if (!isLinkTokenShape(request.token)) throw new UnauthenticatedError(LINK_NOT_VALID);
    const tokenSha256 = linkTokenHash(request.token);
    if (request.forMessages) {
      // The link of a "new message" notice (its own token) signs in to the messages only.
      const messagesLink = await loadMessagesLink(deps, tokenSha256);
      if (messagesLink.status !== 'none') {
        return redeemMessagesLink(deps, request, ctx, messagesLink, tokenSha256);
      }
    }
    const appointmentId = await indexedByToken(deps, linkIndexStream(tokenSha256), 'appointmentId');
    const metadata = callMetadata(ctx, { kind: 'anonymous', id: 'patient-link' });
    await completeIfVisitEnded(deps, appointmentId);
    const { state } = await loadAppointment(deps, appointmentId);
    if (state.status === 'none') throw new UnauthenticatedError(LINK_NOT_VALID);
    const now = deps.clock();
    const forMessages = request.forMessages;
    const expiresAt = forMessages
      ? new Date(now.getTime() + LinkPolicy.messagesTokenMinutes * 60_000)
      : patientTokenExpiry(state, now);
    const tokenId = randomUUID();
    const base = {
      tokenSha256,
      now,
      patientPrincipalId: state.patientId,
      tokenId,
      expiresAt,
      ...(forMessages ? { forMessages } : {}),
    };
    // Refusals (cancelled, ended, replaced, window, locked) before spending any work on the passcode; each is
    // an AccessRefused event too (a link used after its visit ended is someone trying to get back in).
    try {
      decide({ type: 'RedeemPatientLink', data: { ...base, credentialsOk: true } }, state);
    } catch (error) {
      if (error instanceof PreconditionError) {
        ctx.recordRefusal({
          code: 'LINK_NOT_USABLE',
          reason: error.message,
          target: `appointments/${appointmentId}`,
        });
      }
      throw error;
    }
    const link = state.link!;
    let credentialsOk = await verifyPasscode(request.passcode, link.passcodeHash);
    if (link.dateOfBirthRequired) {
      if (request.dateOfBirth === '') {
        throw new ValidationError([{ field: 'date_of_birth', description: 'is required for this link' }]);
      }
      const patient = await loadPatient(deps, state.patientId);
      const phi = await openPatientPhi(deps, patient);
      credentialsOk = credentialsOk && phi['dateOfBirth'] === request.dateOfBirth;
    }
    const result = await runAppointmentCommand(
      deps,
      appointmentId,
      { type: 'RedeemPatientLink', data: { ...base, credentialsOk } },
      credentialsOk ? { ...metadata, actor: { kind: 'patient', id: state.patientId } } : metadata,
    );
    const event = result.events[0] as AppointmentEvent | undefined;
    if (event?.type === AppointmentEventType.PassCodeAttemptFailed) {
      const { attempt, locked } = event.data;
      deps.logger.warn({ appointmentId, attempt, locked }, 'wrong patient link passcode');
      const { code, reason, error } = wrongPasscodeRefusal(event.data, 'the clinic');
      ctx.recordRefusal({ code, reason, target: `appointments/${appointmentId}`, kind: 'unauthenticated' });
      throw error;
    }
    if (event?.type !== AppointmentEventType.PatientLinkRedeemed)
      throw new Error('unexpected redeem outcome');
    const accessToken = await deps.patientTokens.sign(
      {
        subject: state.patientId,
        appointmentId,
        expiresAt,
        tokenId,
        ...(forMessages ? { forMessages } : {}),
      },
      now,
    );
    deps.logger.info({ appointmentId }, 'patient link redeemed');
    return {
      accessToken,
      expireTime: expiresAt,
      appointment: `appointments/${appointmentId}`,
      patient: `patients/${state.patientId}`,
      startTime: new Date(state.startTime),
    };
  };
}
