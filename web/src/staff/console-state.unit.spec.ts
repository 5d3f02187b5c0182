import { consoleState, initialConsole, type ConsoleEvent, type ConsoleState } from './console-state';
import type { Participant, VisitDetail } from './types';
import { participant, visitDetail, visitSummary } from '../testing/visits';

const person = (id: string, state: Participant['state']): Participant => participant({ id, state });

const detail = (extra: Partial<VisitDetail> = {}): VisitDetail =>
  visitDetail({ participants: [person('p-1', 'admitted')], ...extra });

const given = (...events: ConsoleEvent[]): ConsoleState => events.reduce(consoleState, initialConsole);

/** Today's list with one visit, opened and read. */
const opened: ConsoleEvent[] = [
  { type: 'ReadStarted', read: 1, visitId: null },
  { type: 'VisitsRead', read: 1, visits: [visitSummary()] },
  { type: 'Opened', visitId: 'v-1' },
  { type: 'ReadStarted', read: 2, visitId: 'v-1' },
  { type: 'VisitRead', read: 2, visit: detail() },
];

describe('the console: a read that was on its way when the live channel pushed', () => {
  it('keeps a pushed arrival in the waiting room when the older read of the visit lands after it', () => {
    // Given the clinician admitted someone and the page is reading the visit again,
    const state = given(...opened, { type: 'ReadStarted', read: 3, visitId: 'v-1' });
    // when a second device arrives in the lobby (pushed) before that read answers,
    const arrived = [person('p-1', 'admitted'), person('p-2', 'lobby')];
    const pushed = consoleState(state, {
      type: 'Pushed',
      message: { type: 'lobby', visitId: 'v-1', participants: arrived },
    });
    const after = consoleState(pushed, { type: 'VisitRead', read: 3, visit: detail() });
    // then the arrival is still shown, in the open visit and in the waiting list.
    expect(after.open?.participants).toEqual(arrived);
    expect(after.lobbies['v-1']).toEqual(arrived);
    expect(after.reads).toEqual({});
  });

  it('keeps a pushed lock and a pushed end when the older read lands after them', () => {
    for (const message of [
      {
        type: 'visit',
        visitId: 'v-1',
        status: 'in_progress',
        locked: true,
        lobbyCount: 0,
        admittedCount: 1,
        recording: 'off',
      },
      { type: 'ended', visitId: 'v-1' },
    ] as const) {
      const state = given(...opened, { type: 'ReadStarted', read: 3, visitId: 'v-1' });
      const pushed = consoleState(state, { type: 'Pushed', message });
      const after = consoleState(pushed, { type: 'VisitRead', read: 3, visit: detail() });
      expect(after.open).toEqual(pushed.open);
    }
  });

  it('never reopens an ended visit, whatever read lands later', () => {
    const ended = given(...opened, { type: 'Pushed', message: { type: 'ended', visitId: 'v-1' } });
    const read = given(
      ...opened,
      { type: 'Pushed', message: { type: 'ended', visitId: 'v-1' } },
      {
        type: 'ReadStarted',
        read: 3,
        visitId: 'v-1',
      },
    );
    expect(consoleState(read, { type: 'VisitRead', read: 3, visit: detail() }).open?.status).toBe('ended');
    expect(ended.visits?.[0]?.status).toBe('ended');
  });

  it('keeps a pushed visit summary when the older list read lands after it', () => {
    const state = given(...opened, { type: 'ReadStarted', read: 3, visitId: null });
    const pushed = consoleState(state, {
      type: 'Pushed',
      message: {
        type: 'visit',
        visitId: 'v-1',
        status: 'in_progress',
        locked: true,
        lobbyCount: 1,
        admittedCount: 1,
        recording: 'off',
      },
    });
    const after = consoleState(pushed, {
      type: 'VisitsRead',
      read: 3,
      visits: [visitSummary(), visitSummary({ id: 'v-2' })],
    });
    expect(after.visits).toEqual([
      visitSummary({ locked: true, lobbyCount: 1 }),
      visitSummary({ id: 'v-2' }),
    ]);
  });

  it('takes a read that started after the push: it is the newer one', () => {
    const state = given(...opened, {
      type: 'Pushed',
      message: { type: 'lobby', visitId: 'v-1', participants: [person('p-2', 'lobby')] },
    });
    const read = consoleState(state, { type: 'ReadStarted', read: 3, visitId: 'v-1' });
    const now = [person('p-2', 'admitted')];
    const after = consoleState(read, {
      type: 'VisitRead',
      read: 3,
      visit: detail({ locked: true, participants: now }),
    });
    expect(after.open).toMatchObject({ locked: true, participants: now });
    expect(after.lobbies['v-1']).toEqual(now);
  });

  it('lets a push about another visit leave the read alone, and ignores a dropped read', () => {
    const state = given(...opened, { type: 'ReadStarted', read: 3, visitId: 'v-1' });
    const other = consoleState(state, {
      type: 'Pushed',
      message: { type: 'lobby', visitId: 'v-2', participants: [person('p-9', 'lobby')] },
    });
    const now = [person('p-1', 'admitted'), person('p-3', 'lobby')];
    expect(
      consoleState(other, { type: 'VisitRead', read: 3, visit: detail({ participants: now }) }).open,
    ).toMatchObject({ participants: now });
    const dropped = consoleState(state, { type: 'ReadDropped', read: 3 });
    expect(consoleState(dropped, { type: 'VisitRead', read: 3, visit: detail({ participants: now }) })).toBe(
      dropped,
    );
  });
});
