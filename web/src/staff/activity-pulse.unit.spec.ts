/**
 * @jest-environment jsdom
 */
import type * as ClientModule from '../api/client';
import type * as PulseModule from './activity-pulse';
import { pathOf } from '../testing/fake-api';

type Client = typeof ClientModule;
type Pulse = typeof PulseModule;

// Fresh modules for every test: the API client remembers its last refresh.
let client: Client;
let pulse: Pulse;

/** The idle timeout of these specs, s: identity and the gateway sign out after this long without news. */
const IDLE_SEC = 15;
const IDLE_MS = IDLE_SEC * 1000;
/** The page pulses three times per idle timeout; allow one more sample of lateness. */
const MAX_GAP_MS = IDLE_MS / 3 + 1000;

/**
 * A refresh endpoint that answers each POST /api/auth/refresh after `answerAfterMs` (never when undefined). Like a
 * browser's fetch, an aborted request rejects with an AbortError. Counts the refreshes under way at once.
 */
function refreshEndpoint(answerAfterMs: () => number | undefined) {
  const sent: number[] = [];
  const answered: number[] = [];
  const aborted: number[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  globalThis.fetch = jest.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const path = pathOf(input);
    if (path !== '/api/auth/refresh') throw new Error(`unexpected fetch ${path}`);
    sent.push(Date.now());
    inFlight += 1;
    maxInFlight = Math.max(maxInFlight, inFlight);
    const after = answerAfterMs();
    try {
      await new Promise<void>((resolve, reject) => {
        init?.signal?.addEventListener('abort', () => {
          aborted.push(Date.now());
          reject(new DOMException('The operation was aborted.', 'AbortError'));
        });
        if (after !== undefined) setTimeout(resolve, after);
      });
    } finally {
      inFlight -= 1;
    }
    answered.push(Date.now());
    return { status: 204, ok: true, json: async () => null } as Response;
  });
  return { sent, answered, aborted, maxInFlight: () => maxInFlight };
}

/** Runs the pulse for `ms` of fake time (in a live conversation unless told); returns when activity was told. */
async function pulseFor(ms: number, options: { inConversation?: () => boolean; inputs?: EventTarget } = {}) {
  const activity: number[] = [];
  const stop = pulse.startActivityPulse(IDLE_SEC, {
    ...(options.inputs ? { inputs: options.inputs } : {}),
    inConversation: async () => options.inConversation?.() ?? true,
    activity: () => activity.push(Date.now()),
    refresh: client.refreshSession,
    lastRefreshAt: client.lastRefreshAt,
    idleTimeoutSec: async () => IDLE_SEC,
  });
  const start = Date.now();
  await jest.advanceTimersByTimeAsync(ms);
  stop();
  return { activity, start };
}

/** The longest stretch without news from `start` to `end` (the first one counted from `start`). */
function longestGap(times: readonly number[], start: number, end: number): number {
  let gap = 0;
  let last = start;
  for (const t of [...times, end]) {
    gap = Math.max(gap, t - last);
    last = t;
  }
  return gap;
}

describe('the activity pulse', () => {
  beforeEach(async () => {
    jest.useFakeTimers({ now: Date.parse('2026-12-07T08:00:00Z') });
    jest.resetModules();
    client = await import('../api/client');
    pulse = await import('./activity-pulse');
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  describe('when every refresh takes a second to answer (a loaded gateway)', () => {
    it('still refreshes the session three times per idle timeout', async () => {
      const endpoint = refreshEndpoint(() => 1000);
      const { activity, start } = await pulseFor(4 * IDLE_MS);
      const end = Date.now();
      expect(longestGap(activity, start, end)).toBeLessThanOrEqual(MAX_GAP_MS);
      // Identity's idle clock moves when it takes a refresh in, somewhere between sending and answering: the
      // sends must keep the pace, not only the answers.
      expect(longestGap(endpoint.sent, start, end)).toBeLessThanOrEqual(MAX_GAP_MS);
    });
  });

  describe('when a refresh does not answer for a while', () => {
    it('gives it up after the timeout and sends it again at once, keeps telling the live channel, one at a time', async () => {
      let calls = 0;
      // The second refresh would hang for two idle timeouts; the others answer at once.
      const endpoint = refreshEndpoint(() => (++calls === 2 ? 2 * IDLE_MS : 0));
      const { activity, start } = await pulseFor(4 * IDLE_MS);
      const end = Date.now();
      // The gateway's idle clock: its activity does not wait for identity's refresh.
      expect(longestGap(activity, start, end)).toBeLessThanOrEqual(MAX_GAP_MS);
      const hungAt = endpoint.sent[1]!;
      // Given up (the answer may be lost: identity takes the old token back once) and sent again at once.
      expect(endpoint.aborted).toEqual([hungAt + client.REFRESH_TIMEOUT_MS]);
      expect(endpoint.sent[2]).toBe(hungAt + client.REFRESH_TIMEOUT_MS);
      // One refresh at a time: a second one under way would present the token the first may be rotating.
      expect(endpoint.maxInFlight()).toBe(1);
      // And the pulse keeps its pace afterwards.
      expect(longestGap(endpoint.sent, start, end)).toBeLessThanOrEqual(
        MAX_GAP_MS + client.REFRESH_TIMEOUT_MS,
      );
      expect(longestGap(endpoint.sent.slice(2), endpoint.sent[2]!, end)).toBeLessThanOrEqual(MAX_GAP_MS);
    });
  });

  describe('when the clinician clicks and types, with nobody on video', () => {
    it('tells both clocks at least every third of the timeout while the input lasts, and nothing after', async () => {
      const endpoint = refreshEndpoint(() => 0);
      const inputs = new EventTarget();
      const inputFor = 2 * IDLE_MS;
      // A key every 2 s for two idle timeouts, then nothing (the timers run on while the pulse is on).
      for (let t = 0; t < inputFor; t += 2000)
        setTimeout(() => inputs.dispatchEvent(new Event(t % 4000 ? 'keydown' : 'pointerdown')), t);
      const { activity, start } = await pulseFor(4 * IDLE_MS, { inConversation: () => false, inputs });
      const lastInput = start + inputFor - 2000;
      expect(
        longestGap(
          endpoint.sent.filter((t) => t <= lastInput),
          start,
          lastInput,
        ),
      ).toBeLessThanOrEqual(MAX_GAP_MS);
      expect(
        longestGap(
          activity.filter((t) => t <= lastInput),
          start,
          lastInput,
        ),
      ).toBeLessThanOrEqual(MAX_GAP_MS);
      expect(endpoint.sent.filter((t) => t > lastInput)).toEqual([]);
      expect(activity.filter((t) => t > lastInput)).toEqual([]);
    });
  });

  describe('when nobody else is heard (alone in the room)', () => {
    it('tells nobody anything', async () => {
      const endpoint = refreshEndpoint(() => 0);
      const { activity } = await pulseFor(4 * IDLE_MS, { inConversation: () => false });
      expect(activity).toEqual([]);
      expect(endpoint.sent).toEqual([]);
    });
  });
});
