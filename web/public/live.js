// The live channel to the gateway (/api/ws): reconnects with back-off, refreshes an expired staff token before
// reconnecting, reports activity (so an active user is not signed out as idle), and hands messages to `onMessage`.

import { csrfToken } from './api.js';

/**
 * Opens the live channel. `options`: { as: 'patient' | undefined, onMessage(msg), onStatus(state),
 * onSignedOut(reason), refresh: async () => boolean }. Returns { close() }.
 */
export function openLive(options) {
  let ws = null;
  let attempts = 0;
  let stopped = false;
  let timer = null;
  let lastActivity = 0;

  const activity = () => {
    const now = Date.now();
    if (now - lastActivity < 30_000 || !ws || ws.readyState !== WebSocket.OPEN) return;
    lastActivity = now;
    ws.send(JSON.stringify({ type: 'activity' }));
  };
  const events = ['pointerdown', 'keydown', 'scroll'];
  for (const e of events) window.addEventListener(e, activity, { passive: true });

  const connect = () => {
    if (stopped) return;
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const query = `csrf=${encodeURIComponent(csrfToken())}${options.as ? `&as=${options.as}` : ''}`;
    options.onStatus?.('connecting');
    ws = new WebSocket(`${scheme}://${location.host}/api/ws?${query}`);
    ws.addEventListener('open', () => {
      attempts = 0;
      options.onStatus?.('open');
    });
    ws.addEventListener('message', (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      if (message.type === 'signed-out') {
        stopped = true;
        options.onSignedOut?.(message.reason);
        return;
      }
      options.onMessage?.(message);
    });
    ws.addEventListener('close', async (event) => {
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
    });
  };
  connect();

  return {
    close() {
      stopped = true;
      clearTimeout(timer);
      for (const e of events) window.removeEventListener(e, activity);
      ws?.close(1000, 'bye');
    },
    /** Tells the gateway the user is active (e.g. during a video call without input). */
    activity() {
      lastActivity = 0;
      activity();
    },
  };
}
