/**
 * The live channel to the gateway (/api/ws): reconnects with back-off, refreshes an expired staff token before
 * reconnecting, reports activity (so an active user is not signed out as idle), and hands typed messages on.
 */
import { csrfToken } from '../api/client';
import type { LivePageMessage } from '../../../services/gateway/src/live-view';

export type {
  LiveMessage,
  LivePageMessage,
  PatientLiveMessage,
  StaffLiveMessage,
} from '../../../services/gateway/src/live-view';

/** The channel's connection state. */
export type LiveStatus = 'connecting' | 'open' | 'closed' | 'failed';

/** Options of {@link openLive}. */
export interface LiveOptions<M> {
  /** `patient` for the patient's cookie. */
  readonly as?: 'patient';
  readonly onMessage?: (message: M) => void;
  readonly onStatus?: (status: LiveStatus) => void;
  /** The session is over (`reason`: idle, revoked, expired, …). */
  readonly onSignedOut?: (reason: string) => void;
  /** Refreshes an expired token; resolves whether it worked. */
  readonly refresh?: () => Promise<boolean>;
}

/** An open live channel. */
export interface LiveChannel {
  close(): void;
  /** Tells the gateway the user is active (e.g. during a video call without input). */
  activity(): void;
  /** Sends a message to the gateway; false when the channel is not open (nothing was sent). */
  send(message: LivePageMessage): boolean;
}

/** The live channels of this page that are not closed: the gateway keeps an idle clock per staff socket. */
const pageChannels = new Set<LiveChannel>();

/**
 * Tells the gateway on every live channel of this page that the user is active (the console's and the visit
 * chat's are two sockets, each signed out on its own when idle).
 */
export function pageActivity(): void {
  for (const channel of pageChannels) channel.activity();
}

/** Opens the live channel. */
export function openLive<M extends { readonly type: string }>(options: LiveOptions<M>): LiveChannel {
  let ws: WebSocket | null = null;
  let attempts = 0;
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let lastActivity = 0;

  const activity = () => {
    const now = Date.now();
    if (now - lastActivity < 30_000 || !ws || ws.readyState !== WebSocket.OPEN) return;
    lastActivity = now;
    ws.send(JSON.stringify({ type: 'activity' }));
  };
  const events = ['pointerdown', 'keydown', 'scroll'] as const;
  for (const e of events) window.addEventListener(e, activity, { passive: true });

  const connect = () => {
    if (stopped) return;
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const query = `csrf=${encodeURIComponent(csrfToken())}${options.as ? `&as=${options.as}` : ''}`;
    options.onStatus?.('connecting');
    const socket = new WebSocket(`${scheme}://${location.host}/api/ws?${query}`);
    ws = socket;
    socket.addEventListener('open', () => {
      attempts = 0;
      options.onStatus?.('open');
    });
    socket.addEventListener('message', (event: MessageEvent<string>) => {
      let message: { type?: unknown; reason?: unknown };
      try {
        message = JSON.parse(event.data) as typeof message;
      } catch {
        return;
      }
      if (typeof message.type !== 'string') return;
      if (message.type === 'signed-out') {
        stopped = true;
        options.onSignedOut?.(typeof message.reason === 'string' ? message.reason : 'revoked');
        return;
      }
      options.onMessage?.(message as M);
    });
    socket.addEventListener('close', (event) => {
      void (async () => {
        if (stopped) return;
        options.onStatus?.('closed');
        if (event.code === 4401 && event.reason !== 'expired') {
          stopped = true;
          options.onSignedOut?.(event.reason || 'revoked');
          return;
        }
        if (event.code === 4401 && options.refresh) {
          const ok = await options.refresh().catch(() => false);
          if (!ok) {
            stopped = true;
            options.onSignedOut?.('expired');
            return;
          }
        }
        attempts += 1;
        if (attempts > 20) {
          options.onStatus?.('failed');
          return;
        }
        timer = setTimeout(connect, Math.min(500 * 2 ** Math.min(attempts, 5), 15_000));
      })();
    });
  };
  connect();

  const channel: LiveChannel = {
    close() {
      pageChannels.delete(channel);
      stopped = true;
      clearTimeout(timer);
      for (const e of events) window.removeEventListener(e, activity);
      ws?.close(1000, 'bye');
    },
    activity() {
      lastActivity = 0;
      activity();
    },
    send(message) {
      if (!ws || ws.readyState !== WebSocket.OPEN) return false;
      ws.send(JSON.stringify(message));
      return true;
    },
  };
  pageChannels.add(channel);
  return channel;
}
