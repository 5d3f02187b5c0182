/**
 * @jest-environment jsdom
 */
import { act, fireEvent, render, screen } from '@testing-library/react';
import { Console } from './console';
import { SessionContext, type StaffSession } from './session';
import type { Participant, StaffLiveMessage, VisitDetail } from './types';
import { jsonResponse, pathOf } from '../testing/fake-api';
import { pushToSockets, useFakeSockets } from '../testing/fake-socket';
import { participant, visitDetail, visitSummary } from '../testing/visits';

const push = (m: StaffLiveMessage) => act(() => pushToSockets(m));

const flush = () => act(async () => new Promise((r) => setTimeout(r, 0)));

const waiting: Participant = participant({ id: 'p-2', state: 'lobby', device: 2 });

const visit: VisitDetail = visitDetail();

/**
 * Serves the list with one visit and holds every read of that visit until the spec answers it: an answer on its way while the live channel pushes.
 */
function serve() {
  const held: Array<(body: unknown) => void> = [];
  globalThis.fetch = jest.fn((input: RequestInfo | URL, init?: RequestInit) => {
    const route = `${init?.method ?? 'GET'} ${pathOf(input)}`;
    if (route === 'GET /api/visits') {
      return Promise.resolve(
        jsonResponse(200, {
          visits: [visitSummary({ admittedCount: 0 })],
        }),
      );
    }
    if (route.startsWith('POST /api/visits/v-1/')) return Promise.resolve(jsonResponse(200, {}));
    if (route === 'GET /api/visits/v-1') {
      return new Promise<Response>((resolve) => held.push((body) => resolve(jsonResponse(200, body))));
    }
    return Promise.resolve(jsonResponse(404, { error: { code: 'NOT_FOUND', message: 'Not found.' } }));
  });
  return {
    /** Answers every read of the visit on its way (the visit's panels read it too). */
    async answer(body: unknown) {
      if (held.length === 0) throw new Error('no read of the visit on its way');
      const now = held.splice(0);
      await act(async () => now.forEach((answer) => answer(body)));
      await flush();
    },
  };
}

const session: StaffSession = { me: { role: 'clinician' }, signedOut: () => undefined };

async function openTheVisit() {
  render(
    <SessionContext.Provider value={session}>
      <Console />
    </SessionContext.Provider>,
  );
  fireEvent.click(await screen.findByRole('button', { name: /Open the visit/ }));
  await flush();
}

describe('the console: an answer that lands after the live channel pushed', () => {
  useFakeSockets();
  afterEach(() => {
    document.body.innerHTML = '';
  });

  it('keeps someone the live channel put in the waiting room while the visit was being read', async () => {
    const api = serve();
    await openTheVisit();
    // The patient's second device arrives while the clinician's read of the visit is still on its way.
    push({ type: 'lobby', visitId: 'v-1', participants: [waiting] });
    expect(document.querySelector('#lobby')?.textContent).toContain('is waiting');
    await api.answer({ visit });
    expect(document.querySelector('#lobby')?.textContent).toContain('is waiting');
    expect(screen.getByRole('button', { name: /^Admit Patient/ })).toBeTruthy();
  });

  it('keeps a visit the live channel ended while it was being read', async () => {
    const api = serve();
    await openTheVisit();
    push({ type: 'ended', visitId: 'v-1' });
    await api.answer({ visit: { ...visit, locked: true } });
    expect(document.querySelector('#visit-state')?.textContent).toBe('This visit has ended.');
    expect(document.querySelector('#visit-end')).toBeNull();
  });

  it('shows what a read that started after the push says', async () => {
    const api = serve();
    await openTheVisit();
    await api.answer({ visit });
    push({ type: 'lobby', visitId: 'v-1', participants: [waiting] });
    // Lock: the visit is read again after the answer, and that read is newer than the push.
    fireEvent.click(screen.getByRole('button', { name: 'Lock visit' }));
    await flush();
    await api.answer({ visit: { ...visit, locked: true } });
    expect(document.querySelector('#lobby-empty')).toBeTruthy();
    expect(document.querySelector('#visit-state')?.textContent).toContain('Locked');
  });
});
