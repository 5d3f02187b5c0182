/**
 * @jest-environment jsdom
 */
import { openLive, pageActivity } from './live-channel';

/** A socket that opens at once and records what the page sends. */
class FakeSocket extends EventTarget {
  static readonly OPEN = 1;
  static opened: FakeSocket[] = [];
  readyState = 0;
  readonly sent: string[] = [];
  constructor(readonly url: string) {
    super();
    FakeSocket.opened.push(this);
    queueMicrotask(() => {
      this.readyState = FakeSocket.OPEN;
      this.dispatchEvent(new Event('open'));
    });
  }
  send(data: string): void {
    this.sent.push(data);
  }
  close(): void {
    this.readyState = 3;
  }
}

const activities = (s: FakeSocket) => s.sent.filter((d) => d.includes('"activity"')).length;

describe('the page activity', () => {
  const realSocket = globalThis.WebSocket;
  beforeEach(() => {
    FakeSocket.opened = [];
    globalThis.WebSocket = FakeSocket as unknown as typeof WebSocket;
  });
  afterEach(() => {
    globalThis.WebSocket = realSocket;
  });

  it("reaches every open live channel of the page (the console's and the visit chat's), not a closed one", async () => {
    const consoleChannel = openLive({});
    const chatChannel = openLive({});
    const gone = openLive({});
    await Promise.resolve();
    gone.close();
    const [consoleSocket, chatSocket, goneSocket] = FakeSocket.opened;
    pageActivity();
    // The gateway signs each staff socket out on its own when it hears nothing from it.
    expect(activities(consoleSocket!)).toBe(1);
    expect(activities(chatSocket!)).toBe(1);
    expect(activities(goneSocket!)).toBe(0);
    consoleChannel.close();
    chatChannel.close();
    pageActivity();
    expect(FakeSocket.opened.map(activities)).toEqual([1, 1, 0]);
  });
});
