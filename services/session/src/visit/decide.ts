/**
 * Commands and decide() for the Visit aggregate. Pure.
 */
import { PreconditionError } from '@haven/errors';
import { VisitEventType, type VisitEvent, type VisitOpened, type VisitState } from './visit';

export interface OpenVisit {
  readonly type: 'OpenVisit';
  readonly data: VisitOpened['data'];
}

export interface EndVisit {
  readonly type: 'EndVisit';
  readonly data: { readonly reason: 'ended_by_clinician' | 'appointment_cancelled' | 'idle' };
}

export type VisitCommand = OpenVisit | EndVisit;

/**
 * Opening is idempotent (an appointment opens its visit once, however often the booking event is delivered).
 * Throws PreconditionError when ending a visit that is not open.
 */
export function decide(command: VisitCommand, state: VisitState): VisitEvent[] {
  switch (command.type) {
    case 'OpenVisit':
      return state.status === 'none' ? [{ type: VisitEventType.Opened, data: command.data }] : [];
    case 'EndVisit':
      if (state.status !== 'open')
        throw new PreconditionError(`visit is ${state.status === 'none' ? 'not open' : 'already ended'}`);
      return [{ type: VisitEventType.Ended, data: { visitId: state.visitId, reason: command.data.reason } }];
  }
}
