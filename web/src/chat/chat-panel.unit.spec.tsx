/**
 * @jest-environment jsdom
 */
import { act, fireEvent, render, screen } from '@testing-library/react';
import type { LiveChannel, LiveMessage, LiveOptions } from '../live/live-channel';
import { ChatButton, ChatPanel } from './chat-panel';
import { useChat, type ChatTarget, type OpenChannel } from './use-chat';

/** A live channel driven by the test: it records what the page sends and delivers what the test says. */
function fakeChannel() {
  const sent: Record<string, unknown>[] = [];
  let options: LiveOptions<LiveMessage> | undefined;
  const open: OpenChannel = (o) => {
    options = o;
    const channel: LiveChannel = {
      close: () => undefined,
      activity: () => undefined,
      send: (m) => {
        sent.push({ ...m });
        return true;
      },
    };
    queueMicrotask(() => o.onStatus?.('open'));
    return channel;
  };
  const deliver = (m: Record<string, unknown>) =>
    act(() => options?.onMessage?.(m as unknown as LiveMessage));
  return { open, sent, deliver };
}

function Harness({ target, open }: { target: ChatTarget; open: OpenChannel }) {
  const chat = useChat(target, open);
  return (
    <div>
      <ChatButton chat={chat} panelId="chat" />
      <ChatPanel chat={chat} id="chat" />
    </div>
  );
}

const message = (id: string, text: string, senderRole = 'clinician') => ({
  id,
  visitId: 'v1',
  sender: 'p1',
  senderRole,
  text,
  at: `2026-11-26T10:0${id.length}:00.000Z`,
});

describe('the chat panel', () => {
  it('asks for the history when the channel opens and shows markup as plain text', async () => {
    const ch = fakeChannel();
    render(<Harness target={{ as: 'patient' }} open={ch.open} />);
    await act(async () => undefined);
    expect(ch.sent).toEqual([{ type: 'chat-open' }]);
    ch.deliver({
      type: 'chat',
      visitId: 'v1',
      messages: [message('a', '<img src=x onerror=alert(1)> https://x.invalid')],
    });
    expect(screen.getByText('<img src=x onerror=alert(1)> https://x.invalid')).toBeTruthy();
    expect(document.querySelector('.chat-list img')).toBeNull();
    expect(document.querySelector('.chat-list a')).toBeNull();
    expect(screen.getByRole('log', { hidden: true }).getAttribute('aria-live')).toBe('polite');
  });

  it('counts unread messages while closed and clears them when opened; a reconnect shows none twice', async () => {
    const ch = fakeChannel();
    render(<Harness target={{ visitId: 'v1' }} open={ch.open} />);
    await act(async () => undefined);
    expect(ch.sent).toEqual([{ type: 'chat-open', visitId: 'v1' }]);
    ch.deliver({ type: 'chat', visitId: 'v1', messages: [message('a', 'one'), message('bb', 'two')] });
    expect(screen.getByRole('button', { name: 'Chat, 2 unread' })).toBeTruthy();
    ch.deliver({ type: 'chat', visitId: 'v1', messages: [message('a', 'one'), message('bb', 'two')] });
    expect(screen.getByRole('button', { name: 'Chat, 2 unread' })).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'Chat, 2 unread' }));
    expect(screen.getByRole('button', { name: 'Chat' }).getAttribute('aria-pressed')).toBe('true');
    expect(screen.getAllByText(/one|two/)).toHaveLength(2);
  });

  it('sends on Enter with a reference and says why a message was refused', async () => {
    const ch = fakeChannel();
    render(<Harness target={{ visitId: 'v1' }} open={ch.open} />);
    await act(async () => undefined);
    fireEvent.click(screen.getByRole('button', { name: 'Chat' }));
    const box = screen.getByLabelText('Message');
    fireEvent.change(box, { target: { value: 'hello' } });
    fireEvent.keyDown(box, { key: 'Enter' });
    await act(async () => undefined);
    expect(ch.sent.at(-1)).toEqual({ type: 'chat-send', text: 'hello', ref: 'm1', visitId: 'v1' });
    ch.deliver({ type: 'chat-error', ref: 'm1', code: 'rate-limited', retryAfterMs: 3200 });
    await act(async () => undefined);
    expect(screen.getByRole('alert', { hidden: true }).textContent).toMatch(/too fast.*4 s/);
    expect((box as HTMLTextAreaElement).value).toBe('hello');
  });

  it('does not let a message over the limit be sent', async () => {
    const ch = fakeChannel();
    render(<Harness target={{ visitId: 'v1' }} open={ch.open} />);
    await act(async () => undefined);
    fireEvent.change(screen.getByLabelText('Message'), { target: { value: 'x'.repeat(2001) } });
    expect(screen.getByRole<HTMLButtonElement>('button', { name: 'Send', hidden: true }).disabled).toBe(true);
    expect(screen.getByText('2001/2000', { exact: false })).toBeTruthy();
  });

  it('draws the message box and its buttons like the app’s other fields and buttons', async () => {
    const ch = fakeChannel();
    render(<Harness target={{ visitId: 'v1' }} open={ch.open} />);
    await act(async () => undefined);
    expect(screen.getByLabelText('Message').classList).toContain('text-field');
    for (const name of ['Attach a file (image or PDF)', 'Send']) {
      expect(screen.getByRole('button', { name, hidden: true }).classList).toContain('button');
    }
  });

  it('shows a shared file as a download link of the page’s own kind, its name as text', async () => {
    const ch = fakeChannel();
    render(<Harness target={{ visitId: 'v1' }} open={ch.open} />);
    await act(async () => undefined);
    ch.deliver({
      type: 'chat',
      visitId: 'v1',
      messages: [
        {
          ...message('f', ''),
          file: { id: 'f1', name: '<b>scan</b>.pdf', mediaType: 'application/pdf', sizeBytes: 2_400_000 },
        },
      ],
    });
    const link = screen.getByRole<HTMLAnchorElement>('link', { hidden: true });
    expect(link.getAttribute('href')).toBe('/api/visits/v1/chat/files/f1');
    expect(link.getAttribute('download')).toBe('<b>scan</b>.pdf');
    expect(link.textContent).toContain('<b>scan</b>.pdf (2.4 MB)');
    expect(link.querySelector('b')).toBeNull();
  });

  it('uploads an attached file as raw bytes with the CSRF header, and says why one was refused', async () => {
    const calls: { url: string; init: RequestInit }[] = [];
    const answers = [
      {
        status: 201,
        body: {
          message: {
            ...message('g', ''),
            file: { id: 'g1', name: 'a.png', mediaType: 'image/png', sizeBytes: 10 },
          },
        },
      },
      {
        status: 400,
        body: {
          error: {
            code: 'INVALID_ARGUMENT',
            message: 'Invalid',
            fieldViolations: [
              {
                field: 'content',
                description: 'must be a PNG, JPEG or WebP image or a PDF (by its content)',
              },
            ],
          },
        },
      },
    ];
    const realFetch = globalThis.fetch;
    globalThis.fetch = ((url: string, init: RequestInit) => {
      calls.push({ url, init });
      const a = answers.shift()!;
      return Promise.resolve({ ok: a.status < 300, status: a.status, json: () => Promise.resolve(a.body) });
    }) as unknown as typeof fetch;
    try {
      const ch = fakeChannel();
      render(<Harness target={{ as: 'patient' }} open={ch.open} />);
      await act(async () => undefined);
      const input = document.querySelector<HTMLInputElement>('input[type=file]')!;
      expect(input.accept).toBe('image/png,image/jpeg,image/webp,application/pdf');
      const file = new File([new Uint8Array([0x89, 0x50])], 'résumé.png', { type: 'image/png' });
      await act(async () => {
        fireEvent.change(input, { target: { files: [file] } });
      });
      expect(calls[0]?.url).toBe('/api/patient/chat/files');
      const headers = calls[0]?.init.headers as Record<string, string>;
      expect(headers['content-type']).toBe('application/octet-stream');
      expect(headers['x-file-name']).toBe('r%C3%A9sum%C3%A9.png');
      expect('x-csrf-token' in headers).toBe(true);
      expect(screen.getByRole('link', { hidden: true }).getAttribute('href')).toBe(
        '/api/patient/chat/files/g1',
      );
      await act(async () => {
        fireEvent.change(input, { target: { files: [file] } });
      });
      expect(screen.getByRole('alert', { hidden: true }).textContent).toMatch(/File not sent: must be a PNG/);
    } finally {
      globalThis.fetch = realFetch;
    }
  });

  it('says "You" only for the page’s own messages, not for another host clinician’s', async () => {
    const ch = fakeChannel();
    function TwoHosts() {
      const chat = useChat({ visitId: 'v1' }, ch.open);
      return <ChatPanel chat={chat} id="chat" />;
    }
    render(<TwoHosts />);
    await act(async () => undefined);
    ch.deliver({
      type: 'chat',
      visitId: 'v1',
      messages: [
        { ...message('a', 'from me'), sender: 'p-me', mine: true },
        { ...message('bb', 'from my colleague'), sender: 'p-colleague', mine: false },
      ],
    });
    const items = screen.getAllByRole('listitem', { hidden: true });
    expect(items.map((li) => li.querySelector('.chat-meta')?.textContent?.split(' · ')[0])).toEqual([
      'You',
      'Clinician',
    ]);
    expect(items.map((li) => li.classList.contains('chat-mine'))).toEqual([true, false]);
  });

  it('offers the clinician’s page, not the patient’s, to save the transcript into the visit record', async () => {
    const calls: { url: string; init: RequestInit }[] = [];
    const realFetch = globalThis.fetch;
    globalThis.fetch = ((url: string, init: RequestInit) => {
      calls.push({ url, init });
      return Promise.resolve({
        ok: true,
        status: 201,
        json: () => Promise.resolve({ transcript: { messageCount: 3, fileCount: 1 } }),
      });
    }) as unknown as typeof fetch;
    try {
      const patientPage = fakeChannel();
      const { unmount } = render(<Harness target={{ as: 'patient' }} open={patientPage.open} />);
      await act(async () => undefined);
      expect(
        screen.queryByRole('button', { name: 'Save transcript to visit record', hidden: true }),
      ).toBeNull();
      unmount();

      const ch = fakeChannel();
      render(<Harness target={{ visitId: 'v1' }} open={ch.open} />);
      await act(async () => undefined);
      ch.deliver({ type: 'chat', visitId: 'v1', messages: [message('a', 'hello')] });
      await act(async () => {
        fireEvent.click(
          screen.getByRole('button', { name: 'Save transcript to visit record', hidden: true }),
        );
      });
      expect(calls.map((c) => [c.url, c.init.method])).toEqual([['/api/visits/v1/chat/transcript', 'POST']]);
      expect(screen.getByRole('status', { hidden: true }).textContent).toBe(
        'Transcript saved to the visit record (3 messages, 1 file).',
      );
    } finally {
      globalThis.fetch = realFetch;
    }
  });
});
