/**
 * @jest-environment jsdom
 */
import { act, fireEvent, render, screen } from '@testing-library/react';
import { Audit } from './audit';
import { SessionContext, type StaffSession } from './session';
import { flush, pathOf } from '../testing/fake-api';

type Pending = { route: string; answer: (body: unknown) => Promise<void> };

/** Every API call waits until the test answers it, so the test decides the order answers arrive in. */
function slowServer() {
  const pending: Pending[] = [];
  globalThis.fetch = jest.fn(
    (input: RequestInfo | URL, init?: RequestInit) =>
      new Promise<Response>((resolve) => {
        pending.push({
          route: `${init?.method ?? 'GET'} ${pathOf(input)}`,
          answer: async (body) => {
            resolve({ status: 200, ok: true, json: async () => body } as Response);
            await flush();
          },
        });
      }),
  );
  /** Answers the oldest unanswered call to `prefix` exactly, else to a route starting with it. */
  const answer = async (prefix: string, body: unknown): Promise<void> => {
    const exact = pending.findIndex((p) => p.route === prefix);
    const i = exact >= 0 ? exact : pending.findIndex((p) => p.route.startsWith(prefix));
    if (i < 0) throw new Error(`no pending call to ${prefix}: ${pending.map((p) => p.route).join(', ')}`);
    const [call] = pending.splice(i, 1);
    await call!.answer(body);
  };
  return { pending, answer };
}

const head = { treeSize: 4, rootHash: 'ab'.repeat(32), signedAt: null, algorithm: 'Ed25519', keyId: 'k1' };
const entry = (n: number, patientId = 'p1') => ({
  id: `e${n}`,
  leafIndex: n,
  occurredAt: null,
  type: 'haven.scheduling.v1.AppointmentBooked',
  actor: 'u1',
  patientId,
});
const page = (events: unknown[], nextPageToken = '') => ({ events, nextPageToken });
const shownIndexes = () =>
  Array.from(document.querySelectorAll('#ledger-rows tr td:first-child')).map((td) => td.textContent);

const session: StaffSession = { me: { role: 'auditor' }, signedOut: () => undefined };

/** The ledger rendered for an auditor, its head answered; the first page of events is the caller's to answer. */
async function renderedWithHead() {
  const server = slowServer();
  render(
    <SessionContext.Provider value={session}>
      <Audit />
    </SessionContext.Provider>,
  );
  await server.answer('GET /api/audit/head', head);
  return server;
}

async function mounted() {
  const server = await renderedWithHead();
  await server.answer('GET /api/audit/events', page([entry(4), entry(3)], 't1'));
  expect(shownIndexes()).toEqual(['4', '3']);
  return server;
}

describe('the auditor’s ledger', () => {
  it('shows who watched which recording: the viewer’s role and id, and the recording', async () => {
    const server = await renderedWithHead();
    const viewed = {
      ...entry(5),
      type: 'recording.v1.RecordingViewed',
      actor: 'clinician',
      actorId: 'u-42',
      subject: 'recordings/rec-9',
    };
    await server.answer('GET /api/audit/events', page([viewed, entry(4)]));
    const cells = (i: number) =>
      Array.from(document.querySelectorAll(`#ledger-rows tr:nth-child(${i}) td`)).map((td) => td.textContent);
    expect(cells(1).slice(2, 6)).toEqual(['Recording viewed', 'clinician u-42', 'p1', 'recordings/rec-9']);
    expect(cells(2).slice(2, 6)).toEqual(['Appointment booked', 'u1', 'p1', '']);
  });

  it('shows each entry once when "Show entries" is pressed twice quickly', async () => {
    const server = await mounted();
    const show = screen.getByRole('button', { name: 'Show entries' });
    await act(async () => fireEvent.click(show));
    await act(async () => fireEvent.click(show));
    // Both presses' answers arrive, the first one last.
    await server.answer('GET /api/audit/head', head);
    await server.answer('GET /api/audit/head', head);
    const first = server.pending.findIndex((p) => p.route.startsWith('GET /api/audit/events'));
    const later = server.pending.splice(first, 1)[0]!;
    await server.answer('GET /api/audit/events', page([entry(4), entry(3)], 't1'));
    await later.answer(page([entry(4), entry(3)], 't1'));
    expect(shownIndexes()).toEqual(['4', '3']);
  });

  it('shows the last filter’s entries when an earlier answer arrives late', async () => {
    const server = await mounted();
    const input = screen.getByLabelText(/Patient id/);
    fireEvent.change(input, { target: { value: 'p1' } });
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Show entries' })));
    fireEvent.change(input, { target: { value: 'p2' } });
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Show entries' })));
    await server.answer('GET /api/audit/head', head);
    await server.answer('GET /api/audit/head', head);
    await server.answer('GET /api/audit/events?patient=p2', page([entry(2, 'p2')]));
    await server.answer('GET /api/audit/events?patient=p1', page([entry(3, 'p1')]));
    expect(shownIndexes()).toEqual(['2']);
  });

  it('appends the next page once when "More entries" is pressed twice quickly', async () => {
    const server = await mounted();
    const more = screen.getByRole('button', { name: 'More entries' });
    await act(async () => fireEvent.click(more));
    await act(async () => fireEvent.click(more));
    const asked = server.pending.filter((p) => p.route.startsWith('GET /api/audit/events'));
    for (let i = asked.length; i > 0; i -= 1)
      await server.answer('GET /api/audit/events?pageToken=t1', page([entry(2), entry(1)]));
    expect(shownIndexes()).toEqual(['4', '3', '2', '1']);
  });

  it('does not append an older page to a list shown afresh meanwhile', async () => {
    const server = await mounted();
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'More entries' })));
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Show entries' })));
    await server.answer('GET /api/audit/head', head);
    await server.answer('GET /api/audit/events?', page([entry(5), entry(4)], 't2'));
    await server.answer('GET /api/audit/events?pageToken=t1', page([entry(2), entry(1)]));
    expect(shownIndexes()).toEqual(['5', '4']);
  });
});
