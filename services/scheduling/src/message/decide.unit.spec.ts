import {
  AlreadyExistsError,
  PermissionError,
  PreconditionError,
  ResourceExhaustedError,
  ValidationError,
} from '@haven/errors';
import { given } from '@haven/testing';
import { decideMessageThread, MAX_MESSAGE_LENGTH, MESSAGE_RATE, type MessageThreadCommand } from './decide';
import {
  evolveMessageThread,
  initialMessageThreadState,
  MessageThreadEventType,
  unreadFor,
  type MessageThreadEvent,
  type ThreadParty,
} from './thread';

const spec = {
  decide: decideMessageThread,
  evolve: evolveMessageThread,
  initialState: initialMessageThreadState,
};
const now = new Date('2026-12-07T09:00:00Z');
const patient: ThreadParty = { kind: 'patient', id: 'pat-1' };
const otherPatient: ThreadParty = { kind: 'patient', id: 'pat-2' };
const clinician: ThreadParty = { kind: 'staff', id: 'doc-1', role: 'clinician' };
const otherClinician: ThreadParty = { kind: 'staff', id: 'doc-2', role: 'clinician' };
const desk: ThreadParty = { kind: 'staff', id: 'desk-1', role: 'front_desk' };
const admin: ThreadParty = { kind: 'staff', id: 'adm-1', role: 'admin' };

const opened = (
  topic: 'care' | 'scheduling' = 'care',
  openedBy: ThreadParty = clinician,
): MessageThreadEvent => ({
  type: MessageThreadEventType.Opened,
  data: {
    threadId: 't-1',
    patientId: 'pat-1',
    topic,
    ...(topic === 'care' ? { clinicianId: 'doc-1' } : {}),
    openedBy,
    openedAt: now.toISOString(),
  },
});
const posted = (messageId: string, author: ThreadParty): MessageThreadEvent => ({
  type: MessageThreadEventType.Posted,
  data: { threadId: 't-1', messageId, author, postedAt: now.toISOString() },
});
const post = (
  by: ThreadParty,
  text = 'How are you feeling after the visit?',
  messageId = 'm-9',
): MessageThreadCommand => ({
  type: 'PostMessage',
  data: { messageId, text, by, now },
});
const open = (by: ThreadParty, topic: 'care' | 'scheduling', clinicianId?: string): MessageThreadCommand => ({
  type: 'OpenThread',
  data: { threadId: 't-1', patientId: 'pat-1', topic, ...(clinicianId ? { clinicianId } : {}), by, now },
});

describe('when no thread exists', () => {
  it('lets the clinician open a care thread with the patient', () =>
    given(spec)
      .when(open(clinician, 'care', 'doc-1'))
      .then([opened('care')]));
  it('lets the patient open a scheduling thread with the front desk', () =>
    given(spec)
      .when(open(patient, 'scheduling'))
      .then([opened('scheduling', patient)]));
  it('refuses a care thread without its clinician', () =>
    given(spec)
      .when(open(patient, 'care'))
      .thenThrows(ValidationError, /clinician/));
  it('refuses another patient, another clinician, the front desk on care and an admin', () => {
    for (const [by, topic] of [
      [otherPatient, 'care'],
      [otherClinician, 'care'],
      [desk, 'care'],
      [admin, 'scheduling'],
    ] as const) {
      given(spec)
        .when(open(by, topic, 'doc-1'))
        .thenThrows(PermissionError);
    }
  });
  it('refuses to post in a thread that does not exist', () =>
    given(spec)
      .when(post(patient))
      .thenThrows(PreconditionError, /no such thread/));
});

describe('when a care thread is open', () => {
  it('refuses to open it twice', () =>
    given(spec, [opened()])
      .when(open(clinician, 'care', 'doc-1'))
      .thenThrows(AlreadyExistsError));
  it('records a message by the patient with ids only, never the text', () => {
    const events = given(spec, [opened()]).when(post(patient, 'my rash is worse')).result();
    expect(events).toEqual([posted('m-9', patient)]);
    expect(JSON.stringify(events)).not.toContain('rash');
  });
  it('records a repeated post of the same message once', () =>
    given(spec, [opened(), posted('m-9', patient)])
      .when(post(patient))
      .then([]));
  it('refuses someone outside the care team, without saying more', () => {
    given(spec, [opened()]).when(post(otherClinician)).thenThrows(PermissionError);
    given(spec, [opened()]).when(post(desk)).thenThrows(PermissionError);
    given(spec, [opened()]).when(post(otherPatient)).thenThrows(PermissionError);
  });
  it.each([
    ['', /required/],
    ['   ', /required/],
    ['x'.repeat(MAX_MESSAGE_LENGTH + 1), /at most 4000/],
    ['bell\u0007', /control characters/],
  ])('refuses the text %#', (text, message) => {
    const error = given(spec, [opened()]).when(post(patient, text)).error() as ValidationError;
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.violations[0]?.description).toMatch(message);
  });
  it('refuses a burst over the rate limit, and takes the next message once the window passed', () => {
    const burst = Array.from({ length: MESSAGE_RATE.count }, (_, i) => posted(`b-${i}`, patient));
    given(spec, [opened(), ...burst])
      .when(post(patient))
      .thenThrows(ResourceExhaustedError, /at most 10 messages/);
    given(spec, [opened(), ...burst])
      .when(post(clinician))
      .then([posted('m-9', clinician)]);
    const later = new Date(now.getTime() + MESSAGE_RATE.windowMs);
    given(spec, [opened(), ...burst])
      .when({ type: 'PostMessage', data: { messageId: 'm-9', text: 'later', by: patient, now: later } })
      .then([
        {
          type: MessageThreadEventType.Posted,
          data: { threadId: 't-1', messageId: 'm-9', author: patient, postedAt: later.toISOString() },
        },
      ]);
  });
  it('takes HTML and template syntax as plain text (rendered as text)', () =>
    given(spec, [opened()])
      .when(post(patient, '<script>alert(1)</script> {{constructor}}'))
      .then([posted('m-9', patient)]));
});

describe('read receipts', () => {
  const history = [opened(), posted('m-1', clinician), posted('m-2', patient), posted('m-3', clinician)];
  it('marks the other side’s messages read up to the last one', () =>
    given(spec, history)
      .when({ type: 'MarkRead', data: { by: patient, now } })
      .then([
        {
          type: MessageThreadEventType.Read,
          data: { threadId: 't-1', upTo: 'm-3', reader: patient, readAt: now.toISOString() },
        },
      ]));
  it('records nothing when nothing is unread (reading again is no new receipt)', () => {
    const read: MessageThreadEvent = {
      type: MessageThreadEventType.Read,
      data: { threadId: 't-1', upTo: 'm-3', reader: patient, readAt: now.toISOString() },
    };
    given(spec, [...history, read])
      .when({ type: 'MarkRead', data: { by: patient, now } })
      .then([]);
  });
  it('counts unread messages per side', () => {
    const state = history.reduce(evolveMessageThread, initialMessageThreadState);
    expect(unreadFor(state, 'patient').map((m) => m.messageId)).toEqual(['m-1', 'm-3']);
    expect(unreadFor(state, 'staff').map((m) => m.messageId)).toEqual(['m-2']);
  });
});

describe('closing', () => {
  it('lets the care team close it, and then nobody posts', () => {
    given(spec, [opened()])
      .when({ type: 'CloseThread', data: { by: clinician, now } })
      .then([
        {
          type: MessageThreadEventType.Closed,
          data: { threadId: 't-1', closedBy: clinician, closedAt: now.toISOString() },
        },
      ]);
    const closed: MessageThreadEvent = {
      type: MessageThreadEventType.Closed,
      data: { threadId: 't-1', closedBy: clinician, closedAt: now.toISOString() },
    };
    given(spec, [opened(), closed])
      .when(post(patient))
      .thenThrows(PreconditionError, /closed/);
  });
  it('does not let the patient close it', () =>
    given(spec, [opened()])
      .when({ type: 'CloseThread', data: { by: patient, now } })
      .thenThrows(PermissionError));
});
