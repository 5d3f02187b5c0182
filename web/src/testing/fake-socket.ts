/**
 * A stand-in for the browser's WebSocket in component specs: it opens at once, records what the page sends, and
 * lets the spec push what the gateway's live channel would.
 */

/** A socket that opens on the next microtask and records what the page sends. */
export class FakeSocket extends EventTarget {
  static readonly OPEN = 1;
  /** Every socket the page opened since {@link useFakeSockets}' last reset, in order. */
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

/** Installs {@link FakeSocket} as the page's WebSocket before each spec of the file and restores it after. */
export function useFakeSockets(): void {
  const real = globalThis.WebSocket;
  beforeEach(() => {
    FakeSocket.opened = [];
    globalThis.WebSocket = FakeSocket as unknown as typeof WebSocket;
  });
  afterEach(() => {
    globalThis.WebSocket = real;
  });
}

/** Delivers `message` (as the gateway's JSON) to every socket the page opened. */
export function pushToSockets(message: unknown): void {
  for (const s of FakeSocket.opened)
    s.dispatchEvent(new MessageEvent('message', { data: JSON.stringify(message) }));
}
