import {
  NotFoundError,
  PermissionError,
  PreconditionError,
  ResourceExhaustedError,
  ValidationError,
} from '@haven/errors';
import { given } from '@haven/testing';
import { CHAT_LIMITS, chatTextViolations, type ChatMessagePosted } from './chat';
import { type Caller, type VisitCommand } from './decide';
import { evolve, initialVisitState, VisitEventType, type VisitEvent } from './visit';
import { admitted, arrived, callers, ended, opened, sealedPhi as phi, visitSpec as spec } from './testing';

const { clinician, otherClinician, frontDesk, patient, strayPatient } = callers;

const left: VisitEvent = {
  type: VisitEventType.ParticipantLeft,
  data: { visitId: 'apt-1', participantId: 'p-pat', principal: 'patients/pp-1' },
};

const T0 = Date.parse('2026-11-26T10:10:00.000Z');
const at = (ms: number) => new Date(T0 + ms).toISOString();

function send(caller: Caller, participantId: string, text: string, ms = 0, messageId = 'm-1'): VisitCommand {
  return { type: 'SendChatMessage', data: { caller, participantId, messageId, text, phi, at: at(ms) } };
}

function posted(
  participantId: string,
  principal: string,
  role: 'clinician' | 'patient' | 'guest',
  ms = 0,
  messageId = 'm-1',
): ChatMessagePosted & { phi: typeof phi } {
  return {
    type: VisitEventType.ChatMessagePosted,
    data: { visitId: 'apt-1', participantId, principal, role, messageId, postedAt: at(ms) },
    phi,
  };
}

describe('when the visit is open and the patient admitted', () => {
  const history = [opened, arrived, admitted];
  it('posts the clinician’s message, the text only sealed', () =>
    given(spec, history)
      .when(send(clinician, 'p-clin', 'Hello'))
      .then([posted('p-clin', 'users/clin-1', 'clinician')]));
  it('posts the admitted patient’s message', () =>
    given(spec, history)
      .when(send(patient, 'p-pat', '<script>alert(1)</script>'))
      .then([posted('p-pat', 'patients/pp-1', 'patient')]));
  it('never puts the text in the event data', () => {
    const events = given(spec, history)
      .when(send(patient, 'p-pat', 'my secret symptom'))
      .result();
    expect(JSON.stringify(events.map((e) => e.data))).not.toContain('secret');
  });
  it('refuses another clinician', () =>
    given(spec, history)
      .when(send(otherClinician, 'p-x', 'hi'))
      .thenThrows(PermissionError));
  it('refuses the front desk', () =>
    given(spec, history)
      .when(send(frontDesk, 'p-x', 'hi'))
      .thenThrows(PermissionError));
  it('refuses a patient token of another visit', () =>
    given(spec, history)
      .when(send(strayPatient, 'p-pat', 'hi'))
      .thenThrows(PermissionError));
  it('refuses the patient’s device that is not the admitted one', () =>
    given(spec, history)
      .when(send(patient, 'p-other', 'hi'))
      .thenThrows(PermissionError));
  it('refuses an empty message', () =>
    given(spec, history)
      .when(send(clinician, 'p-clin', '  \n '))
      .thenThrows(ValidationError, /empty/));
  it('refuses a message over the length limit', () =>
    given(spec, history)
      .when(send(clinician, 'p-clin', 'x'.repeat(CHAT_LIMITS.maxChars + 1)))
      .thenThrows(ValidationError, /at most 2000/));
  it('takes a message at the length limit (characters, not bytes)', () =>
    given(spec, history)
      .when(send(clinician, 'p-clin', '😀'.repeat(CHAT_LIMITS.maxChars)))
      .then([posted('p-clin', 'users/clin-1', 'clinician')]));
  it('refuses control characters', () =>
    given(spec, history)
      .when(send(clinician, 'p-clin', 'a\u0007b'))
      .thenThrows(ValidationError, /control/));
});

describe('when a participant has just sent as many messages as the rate allows', () => {
  const burst = Array.from({ length: CHAT_LIMITS.rateCount }, (_, i) =>
    posted('p-pat', 'patients/pp-1', 'patient', i * 100, `m-${i}`),
  );
  const history = [opened, arrived, admitted, ...burst];
  it('refuses one more within the window, saying when to retry', () => {
    const error = given(spec, history)
      .when(send(patient, 'p-pat', 'again', 1000))
      .error();
    expect(error).toBeInstanceOf(ResourceExhaustedError);
    expect((error as ResourceExhaustedError).retryAfterMs).toBe(CHAT_LIMITS.rateWindowMs - 1000);
  });
  it('still lets the clinician post', () =>
    given(spec, history)
      .when(send(clinician, 'p-clin', 'ok', 1000))
      .then([posted('p-clin', 'users/clin-1', 'clinician', 1000)]));
  it('accepts again once the window has passed', () =>
    given(spec, history)
      .when(send(patient, 'p-pat', 'later', CHAT_LIMITS.rateWindowMs + 1))
      .then([posted('p-pat', 'patients/pp-1', 'patient', CHAT_LIMITS.rateWindowMs + 1)]));
});

describe('when the patient is only waiting or has left', () => {
  it('refuses the waiting patient', () =>
    given(spec, [opened, arrived])
      .when(send(patient, 'p-pat', 'hi'))
      .thenThrows(PermissionError));
  it('refuses the patient who left', () =>
    given(spec, [opened, arrived, admitted, left])
      .when(send(patient, 'p-pat', 'hi'))
      .thenThrows(PermissionError));
});

describe('when the visit has ended or does not exist', () => {
  it('refuses a message after the end', () =>
    given(spec, [opened, ended])
      .when(send(clinician, 'p-clin', 'hi'))
      .thenThrows(PreconditionError));
  it('refuses a message to no visit', () =>
    given(spec)
      .when(send(clinician, 'p-clin', 'hi'))
      .thenThrows(NotFoundError));
});

describe('evolve', () => {
  it('counts messages', () => {
    const state = [
      opened,
      posted('p-clin', 'users/clin-1', 'clinician'),
      posted('p-clin', 'users/clin-1', 'clinician', 5),
    ].reduce(evolve, initialVisitState);
    expect(state.status === 'open' && state.chat?.count).toBe(2);
  });
});

describe('chatTextViolations', () => {
  it.each([
    ['hello', 0],
    ['line one\nline two\ttabbed', 0],
    ['', 1],
    ['\u0000', 1],
    ['x'.repeat(2001), 1],
  ])('%j has %d violation(s)', (text, n) => expect(chatTextViolations(text)).toHaveLength(n));
});

describe('when a staff guest was invited', () => {
  const interpreter: Caller = { kind: 'user', id: 'int-1', role: 'clinician' };
  const invited: VisitEvent = {
    type: VisitEventType.GuestInvited,
    data: { visitId: 'apt-1', principal: 'users/int-1', role: 'interpreter', invitedBy: 'users/clin-1' },
  };
  const guestArrived: VisitEvent = {
    type: VisitEventType.GuestArrivedInLobby,
    data: { visitId: 'apt-1', participantId: 'p-int', principal: 'users/int-1', role: 'interpreter' },
  };
  const guestAdmitted: VisitEvent = {
    type: VisitEventType.ParticipantAdmitted,
    data: {
      visitId: 'apt-1',
      participantId: 'p-int',
      principal: 'users/int-1',
      role: 'interpreter',
      admittedBy: 'users/clin-1',
      admission: 'nonce-2',
      tokenHash: 'hash-2',
    },
  };
  it('refuses the guest while waiting in the lobby', () =>
    given(spec, [opened, invited, guestArrived])
      .when(send(interpreter, 'p-int', 'hi'))
      .thenThrows(PermissionError));
  it('posts the admitted guest’s message as a guest', () =>
    given(spec, [opened, invited, guestArrived, guestAdmitted])
      .when(send(interpreter, 'p-int', 'hola'))
      .then([posted('p-int', 'users/int-1', 'guest')]));
});
