import { PreconditionError } from '@haven/errors';
import { given } from '../../../../tests/support/decider';
import { decide, type VisitCommand } from './decide';
import { evolve, initialVisitState, VisitEventType, type VisitEvent } from './visit';

const spec = { decide, evolve, initialState: initialVisitState };
const data = {
  visitId: 'apt-1',
  appointmentId: 'apt-1',
  clinicianId: 'clin-1',
  patientId: 'pat-1',
  janusNode: 'janus-0',
  room: 4242,
  startTime: '2026-11-26T10:00:00.000Z',
  endTime: '2026-11-26T10:30:00.000Z',
};
const open: VisitCommand = { type: 'OpenVisit', data };
const opened: VisitEvent = { type: VisitEventType.Opened, data };
const end: VisitCommand = { type: 'EndVisit', data: { reason: 'ended_by_clinician' } };

describe('when no visit exists', () => {
  it('opens it', () => given(spec).when(open).then([opened]));
  it('refuses to end it', () =>
    given(spec)
      .when(end)
      .thenThrows(PreconditionError, /not open/));
});

describe('when the visit is open', () => {
  it('does nothing on a repeated open (the booking event was redelivered)', () =>
    given(spec, [opened]).when(open).then([]));
  it('ends it', () =>
    given(spec, [opened])
      .when(end)
      .then([{ type: VisitEventType.Ended, data: { visitId: 'apt-1', reason: 'ended_by_clinician' } }]));
});

describe('when the visit has ended', () => {
  const ended: VisitEvent = { type: VisitEventType.Ended, data: { visitId: 'apt-1', reason: 'idle' } };
  it('refuses to end it again', () =>
    given(spec, [opened, ended])
      .when(end)
      .thenThrows(PreconditionError, /already ended/));
  it('does not reopen it', () => given(spec, [opened, ended]).when(open).then([]));
});
