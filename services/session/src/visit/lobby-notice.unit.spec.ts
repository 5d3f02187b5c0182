import { NotFoundError, PermissionError, PreconditionError, ValidationError } from '@haven/errors';
import { given } from '@haven/testing';
import { type Caller, type VisitCommand } from './decide';
import type { LobbyNoticeKind, LobbyNoticePosted } from './lobby-notice';
import { evolve, initialVisitState, VisitEventType, type VisitEvent } from './visit';
import { callers, ended, opened, sealedPhi as phi, visitSpec as spec } from './testing';

const { clinician, otherClinician, patient } = callers;

const AT = '2026-11-26T10:05:00.000Z';

function post(
  caller: Caller,
  note: { kind: LobbyNoticeKind; delayMinutes?: number; text?: string; showPosition?: boolean },
): VisitCommand {
  return {
    type: 'PostLobbyNotice',
    data: {
      caller,
      noticeId: 'n-1',
      kind: note.kind,
      delayMinutes: note.delayMinutes ?? 0,
      text: note.text ?? '',
      showPosition: note.showPosition ?? false,
      at: AT,
      ...(note.kind === 'typed' ? { phi } : {}),
    },
  };
}

function posted(kind: LobbyNoticeKind, delayMinutes: number, showPosition: boolean): LobbyNoticePosted {
  return {
    type: VisitEventType.LobbyNoticePosted,
    data: { visitId: 'apt-1', noticeId: 'n-1', kind, delayMinutes, showPosition, postedAt: AT },
  };
}

describe('when the visit is open', () => {
  it('posts a running-late note with the delay and the queue shown', () =>
    given(spec, [opened])
      .when(post(clinician, { kind: 'running_late', delayMinutes: 10, showPosition: true }))
      .then([posted('running_late', 10, true)]));
  it('posts a typed note with its text only sealed', () =>
    given(spec, [opened])
      .when(post(clinician, { kind: 'typed', text: 'Back in five, sorry!' }))
      .then([{ ...posted('typed', 0, false), phi } as VisitEvent]));
  it('clears the note', () =>
    given(spec, [opened])
      .when(post(clinician, { kind: 'none' }))
      .then([posted('none', 0, false)]));
  it('keeps the latest note in the state', () => {
    const state = [opened, posted('running_late', 10, true)].reduce(evolve, initialVisitState);
    expect(state.status === 'open' && state.lobbyNotice).toMatchObject({
      kind: 'running_late',
      delayMinutes: 10,
    });
  });
  it('refuses another clinician', () =>
    given(spec, [opened])
      .when(post(otherClinician, { kind: 'running_late', delayMinutes: 5 }))
      .thenThrows(PermissionError));
  it('refuses the patient', () =>
    given(spec, [opened])
      .when(post(patient, { kind: 'running_late', delayMinutes: 5 }))
      .thenThrows(PermissionError));
  it('refuses a running-late note without a delay', () =>
    given(spec, [opened])
      .when(post(clinician, { kind: 'running_late' }))
      .thenThrows(ValidationError, /delay/));
  it('refuses a delay over four hours', () =>
    given(spec, [opened])
      .when(post(clinician, { kind: 'running_late', delayMinutes: 241 }))
      .thenThrows(ValidationError, /0–240/));
  it('refuses an empty or too long typed note', () => {
    given(spec, [opened])
      .when(post(clinician, { kind: 'typed', text: ' ' }))
      .thenThrows(ValidationError);
    given(spec, [opened])
      .when(post(clinician, { kind: 'typed', text: 'x'.repeat(501) }))
      .thenThrows(ValidationError, /500/);
  });
  it('refuses text on a canned note', () =>
    given(spec, [opened])
      .when(post(clinician, { kind: 'running_late', delayMinutes: 5, text: 'hi' }))
      .thenThrows(ValidationError, /only a typed note/));
});

describe('when the visit has ended or does not exist', () => {
  it('refuses a note after the end', () =>
    given(spec, [opened, ended])
      .when(post(clinician, { kind: 'running_late', delayMinutes: 5 }))
      .thenThrows(PreconditionError));
  it('refuses a note to no visit', () =>
    given(spec)
      .when(post(clinician, { kind: 'none' }))
      .thenThrows(NotFoundError));
});
