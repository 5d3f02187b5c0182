/**
 * @jest-environment jsdom
 */
import { act, fireEvent, render, screen } from '@testing-library/react';
import { StaffMessages } from './staff-messages';

jest.mock('../live/live-channel', () => ({
  openLive: () => ({ close: () => undefined, activity: () => undefined, send: () => false }),
}));

type Call = { route: string; body: unknown };
function server(routes: Record<string, unknown>) {
  const calls: Call[] = [];
  globalThis.fetch = jest.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const path = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const route = `${init?.method ?? 'GET'} ${path}`;
    calls.push({ route, body: typeof init?.body === 'string' ? JSON.parse(init.body) : undefined });
    return { status: 200, ok: true, json: async () => routes[route] ?? {} } as Response;
  });
  return calls;
}
const flush = () => act(async () => new Promise((r) => setTimeout(r, 0)));

describe('the front desk’s scheduling messages', () => {
  it('starts a scheduling conversation with a patient and opens it', async () => {
    const calls = server({
      'GET /api/patients': { patients: [{ id: 'p1', name: 'Ana Ruiz' }] },
      'GET /api/messages/threads': { threads: [] },
      'POST /api/messages/threads': { thread: { id: 't9' } },
      'GET /api/messages/threads/t9': {
        thread: { id: 't9', open: true, unreadCount: 0, messageCount: 0 },
        messages: [],
      },
    });
    render(<StaffMessages role="front_desk" />);
    await flush();
    fireEvent.change(screen.getByLabelText('Write to a patient'), { target: { value: 'p1' } });
    fireEvent.click(screen.getByText('New message'));
    await flush();
    expect(calls.find((c) => c.route === 'POST /api/messages/threads')?.body).toEqual({
      topic: 'scheduling',
      patientId: 'p1',
    });
    expect(document.querySelector('[data-thread="t9"]')).not.toBeNull();
  });

  it('lets a clinician start a care conversation', async () => {
    const calls = server({
      'GET /api/patients': { patients: [{ id: 'p1', name: 'Ana Ruiz' }] },
      'GET /api/messages/threads': { threads: [] },
      'POST /api/messages/threads': { thread: { id: 't8' } },
      'GET /api/messages/threads/t8': {
        thread: { id: 't8', open: true, unreadCount: 0, messageCount: 0 },
        messages: [],
      },
    });
    render(<StaffMessages role="clinician" />);
    await flush();
    fireEvent.change(screen.getByLabelText('Write to a patient'), { target: { value: 'p1' } });
    fireEvent.click(screen.getByText('New message'));
    await flush();
    expect(calls.find((c) => c.route === 'POST /api/messages/threads')?.body).toMatchObject({
      topic: 'care',
    });
  });
});
