/**
 * @jest-environment jsdom
 */
import { act, fireEvent, render, screen } from '@testing-library/react';
import type { LiveChannel, LiveOptions } from '../live/live-channel';
import { ChatButton, ChatPanel } from './chat-panel';
import { useChat, type ChatTarget, type OpenChannel } from './use-chat';

/** A live channel driven by the test: it records what the page sends and delivers what the test says. */
function fakeChannel() {
  const sent: Record<string, unknown>[] = [];
  let options: LiveOptions<{ readonly type: string }> | undefined;
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
    act(() => options?.onMessage?.(m as { readonly type: string }));
  return { open, sent, deliver };
}

function Harness({ target, open }: { target: ChatTarget; open: OpenChannel }) {
  const chat = useChat(target, open);
  return (
    <div>
      <ChatButton chat={chat} panelId="chat" />
      <ChatPanel chat={chat} id="chat" me="patient" />
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
    expect(screen.getByRole('alert').textContent).toMatch(/too fast.*4 s/);
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
});
