/**
 * Test support for component specs: answers the page's fetch calls by method and path, recording them; the
 * gateway's INVALID_ARGUMENT answer; letting React settle after a step.
 */
import { act } from '@testing-library/react';

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

/** A recorded call of {@link answerInOrder}. */
export interface OrderedCall {
  readonly method: string;
  readonly path: string;
  /** The JSON body, parsed (undefined without one). */
  readonly body: unknown;
}

/** The path (or whole URL) `fetch` was called with. */
export const pathOf = (input: RequestInfo | URL): string =>
  typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;

/** What `fetch` resolves with for a JSON answer. */
export const jsonResponse = (status: number, body: unknown): Response =>
  ({ status, ok: status < 400, json: () => Promise.resolve(body) }) as Response;

const jsonBody = (init?: RequestInit): unknown =>
  typeof init?.body === 'string' ? (JSON.parse(init.body) as unknown) : undefined;

/**
 * Replaces `fetch` with one that answers the page's calls with `answers` in order (a 500 once they run out),
 * whatever the route. Returns the calls, in order.
 */
export function answerInOrder(...answers: Answer[]): OrderedCall[] {
  const calls: OrderedCall[] = [];
  globalThis.fetch = jest.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    calls.push({ method: init?.method ?? 'GET', path: pathOf(input), body: jsonBody(init) });
    const a = answers.shift() ?? { status: 500, body: {} };
    return Promise.resolve(jsonResponse(a.status, a.body));
  });
  return calls;
}

/**
 * Replaces `fetch` with one that answers `routes` (`'GET /api/users'`; a key ending in `*` answers every route it
 * begins; a function is called with the request's body) and `options.otherwise` (a 404 unless given) for any
 * other. Returns the calls, in order.
 */
export function serveApi(
  routes: Record<string, Answer | ((body: unknown) => Answer)>,
  options: { readonly otherwise?: Answer } = {},
): Call[] {
  const calls: Call[] = [];
  globalThis.fetch = jest.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const route = `${init?.method ?? 'GET'} ${pathOf(input)}`;
    const body = jsonBody(init);
    calls.push({ route, body });
    const prefix = Object.keys(routes).find((k) => k.endsWith('*') && route.startsWith(k.slice(0, -1)));
    const found = routes[route] ?? (prefix ? routes[prefix] : undefined);
    const a = (typeof found === 'function' ? found(body) : found) ??
      options.otherwise ?? { status: 404, body: { error: { code: 'NOT_FOUND', message: 'Not found.' } } };
    return Promise.resolve(jsonResponse(a.status, a.body));
  });
  return calls;
}

/** Like {@link serveApi}, every route answered 200 with its body, any other with `{}`. */
export const serveBodies = (routes: Record<string, unknown>): Call[] =>
  serveApi(
    Object.fromEntries(Object.entries(routes).map(([route, body]) => [route, { status: 200, body }])),
    { otherwise: { status: 200, body: {} } },
  );

/** The gateway's 400 INVALID_ARGUMENT naming one `field` and what is wrong with it. */
export const invalidArgument = (
  field: string,
  description: string,
  message = 'Invalid request.',
): Answer => ({
  status: 400,
  body: { error: { code: 'INVALID_ARGUMENT', message, fieldViolations: [{ field, description }] } },
});

/** Lets pending promises and timers of `ms` (none: the next turn) run, inside act(). */
export const flush = (ms = 0) => act(async () => new Promise((r) => setTimeout(r, ms)));
