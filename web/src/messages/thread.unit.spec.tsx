/**
 * @jest-environment jsdom
 */
import { fireEvent, render, screen } from '@testing-library/react';
import { pushChangesThread, type MessagesPush } from './live';
import { ThreadList, ThreadView } from './thread';
import { flush, serveBodies, type Call } from '../testing/fake-api';

const server = serveBodies;

const thread = (unreadCount: number, open = true) => ({
  id: 't1',
  patientId: 'p1',
  topic: 'care',
  clinicianId: 'doc',
  open,
  messageCount: 2,
  unreadCount,
  updatedAt: null,
});
const messages = [
  {
    id: 'm1',
    fromPatient: true,
    text: '<img src=x onerror=alert(1)><script>alert(2)</script>',
    at: null,
    read: true,
  },
  { id: 'm2', fromPatient: false, text: 'Use the cream twice a day.', at: null, read: false },
];

describe('a thread on the patient’s page', () => {
  it('shows HTML in a message as text, with the receipt of the patient’s own message, and marks it read', async () => {
    const calls = server({
      'GET /api/patient/messages/threads/t1': { thread: thread(1), messages },
    });
    render(<ThreadView base="/api/patient/messages" threadId="t1" asPatient onBack={() => undefined} />);
    await flush();
    expect(screen.getByText('<img src=x onerror=alert(1)><script>alert(2)</script>')).toBeTruthy();
    expect(document.querySelector('.messages img, .messages script')).toBeNull();
    const mine = document.querySelector('.message.mine');
    expect(mine?.querySelector('.message-receipt')?.textContent).toBe('Read');
    expect(document.querySelector('.message.theirs .message-author')?.textContent).toBe('Your care team');
    expect(calls.map((c) => c.route)).toContain('POST /api/patient/messages/threads/t1/read');
  });

  it('posts an answer and reads the thread again', async () => {
    const calls = server({
      'GET /api/patient/messages/threads/t1': { thread: thread(0), messages },
    });
    render(<ThreadView base="/api/patient/messages" threadId="t1" asPatient onBack={() => undefined} />);
    await flush();
    expect(calls.map((c) => c.route)).not.toContain('POST /api/patient/messages/threads/t1/read');
    fireEvent.change(screen.getByLabelText('Your message'), { target: { value: 'Thank you!' } });
    fireEvent.click(screen.getByText('Send'));
    await flush();
    expect(calls.find((c) => c.route === 'POST /api/patient/messages/threads/t1/messages')?.body).toEqual({
      text: 'Thank you!',
    });
    expect(calls.filter((c) => c.route === 'GET /api/patient/messages/threads/t1')).toHaveLength(2);
  });

  it('offers no compose box in a closed thread', async () => {
    server({ 'GET /api/messages/threads/t1': { thread: thread(0, false), messages } });
    render(<ThreadView base="/api/messages" threadId="t1" asPatient={false} onBack={() => undefined} />);
    await flush();
    expect(screen.queryByLabelText('Your message')).toBeNull();
    expect(screen.getByText('This conversation is closed.')).toBeTruthy();
  });
});

describe('the list of threads', () => {
  it('shows each thread with its unread count', async () => {
    server({ 'GET /api/messages/threads': { threads: [thread(3)] } });
    const opened: string[] = [];
    render(<ThreadList base="/api/messages" label={() => 'Ana Ruiz'} onOpen={(id) => opened.push(id)} />);
    await flush();
    expect(screen.getByLabelText('3 unread').textContent).toBe('3 new');
    fireEvent.click(screen.getByText('Ana Ruiz'));
    expect(opened).toEqual(['t1']);
  });
});

describe('a live push', () => {
  const push = (over: Partial<MessagesPush>): MessagesPush => ({
    type: 'messages',
    threadId: 't1',
    events: ['posted'],
    messageCount: 2,
    unreadCount: 0,
    open: true,
    ...over,
  });
  const reads = (calls: Call[]) =>
    calls.filter((c) => c.route === 'GET /api/patient/messages/threads/t1').length;

  it('reads the open thread again for a new message, not for another thread or its own receipt', async () => {
    const calls = server({ 'GET /api/patient/messages/threads/t1': { thread: thread(0), messages } });
    const view = (p?: MessagesPush) => (
      <ThreadView base="/api/patient/messages" threadId="t1" asPatient onBack={() => undefined} push={p} />
    );
    const { rerender } = render(view());
    await flush();
    expect(reads(calls)).toBe(1);
    rerender(view(push({ threadId: 't2', messageCount: 9 })));
    await flush();
    // The patient's own message is already read: a receipt changes nothing shown.
    rerender(view(push({ events: ['read'] })));
    await flush();
    expect(reads(calls)).toBe(1);
    rerender(view(push({ messageCount: 3 })));
    await flush();
    expect(reads(calls)).toBe(2);
  });

  it('reads the list again at each push', async () => {
    const calls = server({ 'GET /api/messages/threads': { threads: [thread(0)] } });
    const list = (p?: MessagesPush) => (
      <ThreadList base="/api/messages" label={() => 'Ana Ruiz'} onOpen={() => undefined} push={p} />
    );
    const { rerender } = render(list());
    await flush();
    rerender(list(push({ unreadCount: 1, messageCount: 3 })));
    await flush();
    expect(calls.filter((c) => c.route === 'GET /api/messages/threads')).toHaveLength(2);
  });
});

describe('a thread read on its way when the live channel pushes', () => {
  it('reads again: the read may be older than the push, even when the push looks like what is shown', async () => {
    // The care team closes the thread and opens it again while the page's read after the close is on its way.
    const held: Array<(body: unknown) => void> = [];
    globalThis.fetch = jest.fn(
      () =>
        new Promise<Response>((resolve) =>
          held.push((body) =>
            resolve({ status: 200, ok: true, json: () => Promise.resolve(body) } as Response),
          ),
        ),
    );
    const base: MessagesPush = {
      type: 'messages',
      threadId: 't1',
      events: ['closed'],
      messageCount: 2,
      unreadCount: 0,
      open: false,
    };
    const view = (p?: MessagesPush) => (
      <ThreadView base="/api/messages" threadId="t1" asPatient={false} onBack={() => undefined} push={p} />
    );
    const { rerender } = render(view());
    held.shift()?.({ thread: thread(0), messages });
    await flush();
    rerender(view(base));
    await flush();
    expect(held).toHaveLength(1);
    rerender(view({ ...base, events: ['opened'], open: true }));
    await flush();
    // The older read answers (closed), then the one after the second push (open again).
    held.shift()?.({ thread: thread(0, false), messages });
    await flush();
    held.shift()?.({ thread: thread(0, true), messages });
    await flush();
    expect(screen.queryByText('This conversation is closed.')).toBeNull();
    expect(screen.getByLabelText('Your message')).toBeTruthy();
  });
});

describe('whether a push changes a thread', () => {
  const shown = { threadId: 't1', messageCount: 2, unreadOfMine: 1, open: true };
  const base: MessagesPush = {
    type: 'messages',
    threadId: 't1',
    events: ['read'],
    messageCount: 2,
    unreadCount: 0,
    open: true,
  };
  it.each([
    ['a receipt while one of mine shows unread', base, true],
    ['a receipt when all of mine are read', base, false, { ...shown, unreadOfMine: 0 }],
    ['a new message', { ...base, events: ['posted'], messageCount: 3 }, true],
    ['the thread was closed', { ...base, events: ['closed'], open: false }, true],
    ['any push while a read is on its way', base, true, { ...shown, unreadOfMine: 0, reading: true }],
    ['another thread', { ...base, threadId: 't2' }, false],
    ['no push', undefined, false],
  ])('%s', (_what, p, expected, view = shown) => {
    expect(pushChangesThread(p, view)).toBe(expected);
  });
});
