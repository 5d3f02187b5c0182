/**
 * What the clinician's console knows about today's visits, as one pure reducer: the list, who is in each visit
 * with someone waiting, and the open visit. Two sources feed it: the page's own reads (GET /api/visits and
 * GET /api/visits/:id, after an action too) and the live channel's pushes. A push is the gateway's read after a
 * change, so a read that was still on its way when a push about the same visit arrived is older news (or the
 * same): its answer no longer overwrites what the push said (an arrival, a lock, the end of the visit).
 */
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

/** A read on its way: of one visit, or (visitId null) of the list; and the visits pushed since it started. */
interface PendingRead {
  readonly visitId: string | null;
  /** Visits whose status or lock was pushed since the read started. */
  readonly summaries: readonly string[];
  /** Visits whose people were pushed since the read started. */
  readonly people: readonly string[];
}

/** The console's data. */
export interface ConsoleState {
  readonly visits: readonly VisitSummary[] | null;
  /** Who is in each visit that has someone waiting (or was read or pushed). */
  readonly lobbies: Readonly<Record<string, readonly Participant[]>>;
  readonly open: OpenVisit | null;
  /** The reads on their way, by the id the page gave each. */
  readonly reads: Readonly<Record<number, PendingRead>>;
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
export const initialConsole: ConsoleState = { visits: null, lobbies: {}, open: null, reads: {} };

const ENDED = 'ended';

function withoutRead(reads: ConsoleState['reads'], read: number): ConsoleState['reads'] {
  const { [read]: _done, ...rest } = reads;
  return rest;
}

/** Marks every read on its way as having seen a push about `visitId`'s status (or people). */
function heard(reads: ConsoleState['reads'], visitId: string, what: 'summaries' | 'people') {
  const next: Record<number, PendingRead> = {};
  for (const [key, r] of Object.entries(reads)) {
    next[Number(key)] = r[what].includes(visitId) ? r : { ...r, [what]: [...r[what], visitId] };
  }
  return next;
}

/** An ended visit stays ended: nothing reopens it. */
const statusAfter = (now: string, read: string) => (now === ENDED ? ENDED : read);

/** The next state. Pure. */
export function consoleState(state: ConsoleState, event: ConsoleEvent): ConsoleState {
  switch (event.type) {
    case 'ReadStarted':
      return {
        ...state,
        reads: { ...state.reads, [event.read]: { visitId: event.visitId, summaries: [], people: [] } },
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
        if (pending.summaries.includes(v.id)) return { ...v, ...pick(now) };
        return { ...v, status: statusAfter(now.status, v.status) };
      });
      return { ...state, visits, reads: withoutRead(state.reads, event.read) };
    }
    case 'VisitRead': {
      const pending = state.reads[event.read];
      if (!pending) return state;
      const v = event.visit;
      const reads = withoutRead(state.reads, event.read);
      const peopleNewer = pending.people.includes(v.id);
      const summaryNewer = pending.summaries.includes(v.id);
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
          reads: heard(state.reads, m.visitId, 'people'),
        };
      }
      if (m.type === 'visit') {
        const o = state.open;
        return {
          ...state,
          visits: state.visits?.map((v) => (v.id === m.visitId ? { ...v, ...pick(m) } : v)) ?? null,
          open: o?.id === m.visitId ? { ...o, status: m.status, locked: m.locked } : o,
          reads: heard(state.reads, m.visitId, 'summaries'),
        };
      }
      if (m.type === 'ended') {
        const o = state.open;
        return {
          ...state,
          visits: state.visits?.map((v) => (v.id === m.visitId ? { ...v, status: ENDED } : v)) ?? null,
          open: o?.id === m.visitId ? { ...o, status: ENDED, locked: false } : o,
          reads: heard(state.reads, m.visitId, 'summaries'),
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
