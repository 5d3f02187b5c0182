/**
 * What the clinician's console knows about today's visits, as one pure reducer: the list, who is in each visit
 * with someone waiting, and the open visit. Two sources feed it: the page's own reads (GET /api/visits and
 * GET /api/visits/:id, after an action too) and the live channel's pushes. A push is the gateway's read after a
 * change, so a read that was still on its way when a push about the same visit arrived is older news (or the
 * same): its answer no longer overwrites what the push said (an arrival, a lock, the end of the visit).
 */
import { afterPush, NO_PUSHES, pushedSince, type PushCounts } from '../live/push-counts';
import type { Participant, StaffLiveMessage, VisitDetail, VisitSummary } from './types';

/** The open visit on the console. */
export interface OpenVisit {
  readonly id: string;
  readonly status: string;
  readonly locked: boolean;
  /** Everyone in the visit, clinicians included (the lists show the others). */
  readonly participants: readonly Participant[];
  readonly patientName: string | null;
}

/** A read on its way: of one visit, or (visitId null) of the list; and the push counts when it started. */
interface PendingRead {
  readonly visitId: string | null;
  readonly start: PushCounts;
}

/** The push topics: a visit's status or lock (its summary), and its people. */
const summaryOf = (visitId: string) => `summary:${visitId}`;
const peopleOf = (visitId: string) => `people:${visitId}`;

/** The console's data. */
export interface ConsoleState {
  readonly visits: readonly VisitSummary[] | null;
  /** Who is in each visit that has someone waiting (or was read or pushed). */
  readonly lobbies: Readonly<Record<string, readonly Participant[]>>;
  readonly open: OpenVisit | null;
  /** The reads on their way, by the id the page gave each. */
  readonly reads: Readonly<Record<number, PendingRead>>;
  /** The live pushes heard, per visit's summary and people. */
  readonly pushes: PushCounts;
}

/** Everything that changes the console's data. */
export type ConsoleEvent =
  | { readonly type: 'ReadStarted'; readonly read: number; readonly visitId: string | null }
  | { readonly type: 'VisitsRead'; readonly read: number; readonly visits: readonly VisitSummary[] }
  | { readonly type: 'VisitRead'; readonly read: number; readonly visit: VisitDetail }
  /** A read failed or its answer is not wanted. */
  | { readonly type: 'ReadDropped'; readonly read: number }
  | { readonly type: 'Pushed'; readonly message: StaffLiveMessage }
  | { readonly type: 'Opened'; readonly visitId: string }
  | { readonly type: 'PatientNamed'; readonly visitId: string; readonly name: string };

/** The console before anything was read. */
export const initialConsole: ConsoleState = {
  visits: null,
  lobbies: {},
  open: null,
  reads: {},
  pushes: NO_PUSHES,
};

const ENDED = 'ended';

function withoutRead(reads: ConsoleState['reads'], read: number): ConsoleState['reads'] {
  const { [read]: _done, ...rest } = reads;
  return rest;
}

/** An ended visit stays ended: nothing reopens it. */
const statusAfter = (now: string, read: string) => (now === ENDED ? ENDED : read);

/** The next state. Pure. */
export function consoleState(state: ConsoleState, event: ConsoleEvent): ConsoleState {
  switch (event.type) {
    case 'ReadStarted':
      return {
        ...state,
        reads: { ...state.reads, [event.read]: { visitId: event.visitId, start: state.pushes } },
      };
    case 'ReadDropped':
      return { ...state, reads: withoutRead(state.reads, event.read) };
    case 'VisitsRead': {
      const pending = state.reads[event.read];
      if (!pending) return state;
      const pushed = new Map((state.visits ?? []).map((v) => [v.id, v]));
      const visits = event.visits.map((v) => {
        const now = pushed.get(v.id);
        if (!now) return v;
        // What a push said since this read started is newer than the read.
        if (pushedSince(state.pushes, pending.start, summaryOf(v.id))) return { ...v, ...pick(now) };
        return { ...v, status: statusAfter(now.status, v.status) };
      });
      return { ...state, visits, reads: withoutRead(state.reads, event.read) };
    }
    case 'VisitRead': {
      const pending = state.reads[event.read];
      if (!pending) return state;
      const v = event.visit;
      const reads = withoutRead(state.reads, event.read);
      const peopleNewer = pushedSince(state.pushes, pending.start, peopleOf(v.id));
      const summaryNewer = pushedSince(state.pushes, pending.start, summaryOf(v.id));
      const lobbies = peopleNewer ? state.lobbies : { ...state.lobbies, [v.id]: v.participants };
      const o = state.open;
      const open =
        o?.id !== v.id
          ? o
          : {
              ...o,
              ...(summaryNewer ? {} : { status: statusAfter(o.status, v.status), locked: v.locked }),
              ...(peopleNewer ? {} : { participants: v.participants }),
            };
      return { ...state, lobbies, open, reads };
    }
    case 'Pushed': {
      const m = event.message;
      if (m.type === 'lobby') {
        const o = state.open;
        return {
          ...state,
          lobbies: { ...state.lobbies, [m.visitId]: m.participants },
          open: o?.id === m.visitId ? { ...o, participants: m.participants } : o,
          pushes: afterPush(state.pushes, peopleOf(m.visitId)),
        };
      }
      if (m.type === 'visit') {
        const o = state.open;
        return {
          ...state,
          visits: state.visits?.map((v) => (v.id === m.visitId ? { ...v, ...pick(m) } : v)) ?? null,
          open: o?.id === m.visitId ? { ...o, status: m.status, locked: m.locked } : o,
          pushes: afterPush(state.pushes, summaryOf(m.visitId)),
        };
      }
      if (m.type === 'ended') {
        const o = state.open;
        return {
          ...state,
          visits: state.visits?.map((v) => (v.id === m.visitId ? { ...v, status: ENDED } : v)) ?? null,
          open: o?.id === m.visitId ? { ...o, status: ENDED, locked: false } : o,
          pushes: afterPush(state.pushes, summaryOf(m.visitId)),
        };
      }
      return state;
    }
    case 'Opened': {
      if (state.open?.id === event.visitId) return state;
      const summary = state.visits?.find((v) => v.id === event.visitId);
      return {
        ...state,
        open: {
          id: event.visitId,
          status: summary?.status ?? 'open',
          locked: summary?.locked ?? false,
          participants: [],
          patientName: null,
        },
      };
    }
    case 'PatientNamed':
      return state.open?.id === event.visitId
        ? { ...state, open: { ...state.open, patientName: event.name } }
        : state;
  }
}

/** The fields of a visit's summary a `visit` push carries. */
function pick(v: Pick<VisitSummary, 'status' | 'locked' | 'lobbyCount' | 'admittedCount'>) {
  return { status: v.status, locked: v.locked, lobbyCount: v.lobbyCount, admittedCount: v.admittedCount };
}
