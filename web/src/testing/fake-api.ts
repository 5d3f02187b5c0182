/** Test support for component specs: answers the page's fetch calls by method and path, recording them. */

/** One canned answer. */
export interface Answer {
  readonly status: number;
  readonly body: unknown;
}

/** A recorded call. */
export interface Call {
  readonly route: string;
  readonly body: unknown;
}

/**
 * Replaces `fetch` with one that answers `routes` (`'GET /api/users'`; a key ending in `*` answers every route it
 * begins; a function is called with the request's body) and 404 otherwise. Returns the calls, in order.
 */
export function serveApi(routes: Record<string, Answer | ((body: unknown) => Answer)>): Call[] {
  const calls: Call[] = [];
  globalThis.fetch = jest.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const path = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const route = `${init?.method ?? 'GET'} ${path}`;
    const body = typeof init?.body === 'string' ? (JSON.parse(init.body) as unknown) : undefined;
    calls.push({ route, body });
    const prefix = Object.keys(routes).find((k) => k.endsWith('*') && route.startsWith(k.slice(0, -1)));
    const found = routes[route] ?? (prefix ? routes[prefix] : undefined);
    const a = (typeof found === 'function' ? found(body) : found) ?? {
      status: 404,
      body: { error: { code: 'NOT_FOUND', message: 'Not found.' } },
    };
    return Promise.resolve({
      status: a.status,
      ok: a.status < 400,
      json: () => Promise.resolve(a.body),
    } as Response);
  });
  return calls;
}
