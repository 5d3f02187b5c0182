/**
 * @jest-environment jsdom
 */
import type * as ClientModule from './client';
import { pathOf } from '../testing/fake-api';

type Client = typeof ClientModule;

// A fresh module for every test: the API client remembers its last refresh and the one under way.
let client: Client;

/** What one POST /api/auth/refresh meets: an answer with this status, a network failure, or no answer at all. */
type Outcome = number | 'network' | 'hang';

/**
 * A refresh endpoint answering the n-th POST /api/auth/refresh with `outcomes[n]` (the last one repeats). Like a
 * browser's fetch, an aborted request rejects with an AbortError. Records every send, when each one settled, and
 * how many were under way at once.
 */
function refreshEndpoint(...outcomes: Outcome[]) {
  const sent: number[] = [];
  const settled: number[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  globalThis.fetch = jest.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const path = pathOf(input);
    // Any other call: the access token has expired.
    if (path === '/api/me')
      return {
        status: 401,
        ok: false,
        json: async () => ({ error: { code: 'UNAUTHENTICATED' } }),
      } as Response;
    if (path !== '/api/auth/refresh') throw new Error(`unexpected fetch ${path}`);
    const outcome = outcomes[Math.min(sent.length, outcomes.length - 1)] ?? 'hang';
    sent.push(Date.now());
    inFlight += 1;
    maxInFlight = Math.max(maxInFlight, inFlight);
    try {
      return await new Promise<Response>((resolve, reject) => {
        const signal = init?.signal;
        signal?.addEventListener('abort', () =>
          reject(new DOMException('The operation was aborted.', 'AbortError')),
        );
        if (outcome === 'hang') return;
        if (outcome === 'network') {
          reject(new TypeError('Failed to fetch'));
          return;
        }
        resolve({
          status: outcome,
          ok: outcome >= 200 && outcome < 300,
          json: async () => (outcome === 204 ? null : { error: { code: `HTTP_${outcome}` } }),
        } as Response);
      });
    } finally {
      inFlight -= 1;
      settled.push(Date.now());
    }
  });
  return { sent, settled, maxInFlight: () => maxInFlight };
}

/** Runs refreshSession on fake time until it settles (at most a minute); resolves with its outcome. */
async function refreshed(): Promise<{ ok: boolean; error?: ClientModule.ApiError; at: number }> {
  let outcome: { ok: boolean; error?: ClientModule.ApiError; at: number } | undefined;
  client.refreshSession().then(
    () => (outcome = { ok: true, at: Date.now() }),
    (error: ClientModule.ApiError) => (outcome = { ok: false, error, at: Date.now() }),
  );
  for (let i = 0; i < 600 && outcome === undefined; i++) await jest.advanceTimersByTimeAsync(100);
  if (!outcome) throw new Error('refreshSession did not settle within a minute');
  return outcome;
}

describe('refreshSession', () => {
  let start: number;
  beforeEach(async () => {
    jest.useFakeTimers({ now: Date.parse('2026-12-07T08:00:00Z') });
    start = Date.now();
    jest.resetModules();
    client = await import('./client');
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  describe('when the gateway does not answer (a lost answer, a stalled connection)', () => {
    it('gives the refresh up after REFRESH_TIMEOUT_MS and sends it once more at once', async () => {
      const endpoint = refreshEndpoint('hang', 204);
      const result = await refreshed();
      expect(result.ok).toBe(true);
      expect(endpoint.sent).toEqual([start, start + client.REFRESH_TIMEOUT_MS]);
      expect(endpoint.maxInFlight()).toBe(1);
      // The page's idle bookkeeping counts from the refresh that was answered.
      expect(client.lastRefreshAt()).toBe(start + client.REFRESH_TIMEOUT_MS);
    });
    it('rejects, saying so, when the second one does not answer either, and sends no third', async () => {
      const endpoint = refreshEndpoint('hang');
      const result = await refreshed();
      expect(result.ok).toBe(false);
      expect(result.error).toMatchObject({ status: 0, code: 'TIMEOUT' });
      expect(result.at).toBe(start + 2 * client.REFRESH_TIMEOUT_MS);
      expect(endpoint.sent).toHaveLength(2);
      expect(endpoint.maxInFlight()).toBe(1);
      expect(client.lastRefreshAt()).toBe(0);
    });
  });

  it('sends it once more at once after a network error or a 5xx', async () => {
    for (const failure of ['network', 502, 503, 504] as const) {
      jest.resetModules();
      client = await import('./client');
      const endpoint = refreshEndpoint(failure, 204);
      const t0 = Date.now();
      expect((await refreshed()).ok).toBe(true);
      expect(endpoint.sent).toEqual([t0, t0]);
    }
  });

  it('never sends a third after two failures', async () => {
    const endpoint = refreshEndpoint(503, 'network', 204);
    const result = await refreshed();
    expect(result.error).toMatchObject({ status: 0, code: 'NETWORK' });
    expect(endpoint.sent).toHaveLength(2);
  });

  it('does not retry a refused refresh (401: the session is over) nor a 4xx', async () => {
    for (const refusal of [401, 429, 403]) {
      jest.resetModules();
      client = await import('./client');
      const endpoint = refreshEndpoint(refusal, 204);
      const result = await refreshed();
      expect(result.error).toMatchObject({ status: refusal });
      expect(endpoint.sent).toHaveLength(1);
    }
  });

  it('shares one refresh, retry included, among the calls made while it is under way', async () => {
    const endpoint = refreshEndpoint('hang', 204);
    const first = client.refreshSession();
    await jest.advanceTimersByTimeAsync(client.REFRESH_TIMEOUT_MS / 2);
    const second = client.refreshSession();
    await jest.advanceTimersByTimeAsync(client.REFRESH_TIMEOUT_MS);
    await expect(Promise.all([first, second])).resolves.toEqual([null, null]);
    expect(endpoint.sent).toHaveLength(2);
    expect(endpoint.maxInFlight()).toBe(1);
  });

  describe('refreshUnlessRefused (the live channels: is the session over?)', () => {
    it('says the session is over only when the gateway refused the refresh (401)', async () => {
      const cases: [Outcome, boolean][] = [
        [204, true],
        [401, false],
        ['hang', true],
        ['network', true],
        [503, true],
        [429, true],
      ];
      const seen: [Outcome, boolean | undefined][] = [];
      for (const [outcome] of cases) {
        jest.resetModules();
        client = await import('./client');
        refreshEndpoint(outcome);
        let answer: boolean | undefined;
        void client.refreshUnlessRefused().then((ok) => (answer = ok));
        for (let i = 0; i < 300 && answer === undefined; i++) await jest.advanceTimersByTimeAsync(100);
        seen.push([outcome, answer]);
      }
      expect(seen).toEqual(cases);
    });
  });

  describe('api() when the access token has expired and the refresh does not get through', () => {
    it('rejects with what stopped the refresh, not with a 401 that would sign the page out', async () => {
      const seen: [Outcome, unknown][] = [];
      for (const outcome of ['hang', 'network', 503, 401] as const) {
        jest.resetModules();
        client = await import('./client');
        refreshEndpoint(outcome);
        let failure: unknown;
        client.api('GET', '/api/me').catch((err: ClientModule.ApiError) => (failure = err.status));
        for (let i = 0; i < 300 && failure === undefined; i++) await jest.advanceTimersByTimeAsync(100);
        seen.push([outcome, failure]);
      }
      expect(seen).toEqual([
        ['hang', 0],
        ['network', 0],
        [503, 503],
        [401, 401],
      ]);
    });
  });
});
