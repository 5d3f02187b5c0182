/**
 * Talks to the gateway's JSON API. Tokens live in httpOnly cookies the page cannot read; the page only echoes the
 * CSRF cookie in the x-csrf-token header on every state-changing request (double-submit).
 */

/** One invalid field of a request, as the gateway reports it. */
export interface FieldViolation {
  readonly field: string;
  readonly description: string;
}

interface ErrorBody {
  readonly error?: { readonly code?: string; readonly message?: string; readonly fieldViolations?: unknown };
}

/** An API error: HTTP `status` (0: the gateway could not be reached), `code`, a message safe to show. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly fieldViolations: readonly FieldViolation[];

  constructor(status: number, body: unknown, options?: { cause?: unknown }) {
    const error = (body as ErrorBody | null)?.error ?? {};
    super(error.message || 'Something went wrong. Please try again.', options);
    this.name = 'ApiError';
    this.status = status;
    this.code = error.code || 'INTERNAL';
    this.fieldViolations = Array.isArray(error.fieldViolations)
      ? (error.fieldViolations as FieldViolation[])
      : [];
  }
}

/** The CSRF token the gateway set in the `haven_csrf` cookie ('' when none). */
export function csrfToken(): string {
  const match = document.cookie.split('; ').find((c) => c.startsWith('haven_csrf='));
  return match ? decodeURIComponent(match.slice('haven_csrf='.length)) : '';
}

/** The HTTP methods the gateway's API uses. */
export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

async function send<T>(method: Method, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (method !== 'GET') {
    headers['content-type'] = 'application/json';
    headers['x-csrf-token'] = csrfToken();
  }
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers,
      credentials: 'same-origin',
      ...(method === 'GET' ? {} : { body: JSON.stringify(body ?? {}) }),
      ...(signal ? { signal } : {}),
    });
  } catch (cause) {
    throw signal?.aborted
      ? new ApiError(0, { error: { code: 'TIMEOUT', message: 'Haven did not answer in time.' } }, { cause })
      : new ApiError(
          0,
          { error: { code: 'NETWORK', message: 'Cannot reach Haven. Check your connection.' } },
          { cause },
        );
  }
  if (res.status === 204) return null as T;
  const data: unknown = await res.json().catch(() => null);
  if (!res.ok) throw new ApiError(res.status, data);
  return data as T;
}

/**
 * How long the page waits for a refresh's answer before it gives that refresh up, ms. Identity may have rotated
 * the refresh token already (the answer was lost); the next try presents the old one, which identity takes back
 * once within its reuse grace (HAVEN_REFRESH_REUSE_GRACE_SEC, 30 s by default: longer than this).
 */
export const REFRESH_TIMEOUT_MS = 10_000;

let refreshing: Promise<unknown> | null = null;
let refreshedAt = 0;

/** One POST /api/auth/refresh, aborted after {@link REFRESH_TIMEOUT_MS} (rejects with ApiError `TIMEOUT`). */
async function refreshOnce(): Promise<unknown> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), REFRESH_TIMEOUT_MS);
  try {
    return await send('POST', '/api/auth/refresh', {}, controller.signal);
  } finally {
    clearTimeout(timer);
  }
}

/** A failure worth one more try: no answer (network, timeout) or the gateway's or identity's 5xx; never a 4xx. */
function retryable(err: unknown): boolean {
  return err instanceof ApiError && (err.status === 0 || err.status >= 500);
}

/** A refresh and, when it failed in a {@link retryable} way, one more at once; one at a time. */
async function refreshWithRetry(): Promise<unknown> {
  let sentAt = Date.now();
  let answer: unknown;
  try {
    answer = await refreshOnce();
  } catch (err) {
    if (!retryable(err)) throw err;
    sentAt = Date.now();
    answer = await refreshOnce();
  }
  refreshedAt = sentAt;
  return answer;
}

/**
 * When this page sent the last refresh that succeeded (ms since the epoch; 0 when never): identity's idle clock
 * moved no earlier than this (it moves when identity takes the refresh in, before the answer comes back).
 */
export function lastRefreshAt(): number {
  return refreshedAt;
}

/**
 * Refreshes the session's tokens with the refresh cookie (POST /api/auth/refresh), which also tells identity the
 * user is active. A refresh unanswered after {@link REFRESH_TIMEOUT_MS}, a network error or a 5xx is tried once
 * more at once; a 4xx (401: the session is over) is not. Calls made while one is under way share it: the refresh
 * token rotates, and identity takes a rotated one back only once, within a short grace; beyond that, presenting
 * it again ends the session as a stolen token would. Rejects with ApiError (`TIMEOUT` when nothing answered).
 */
export function refreshSession(): Promise<unknown> {
  if (refreshing) return refreshing;
  refreshing = refreshWithRetry().finally(() => {
    refreshing = null;
  });
  return refreshing;
}

/**
 * Refreshes the session (as {@link refreshSession}) for a live channel whose token expired; resolves false only
 * when the gateway refused the refresh (401: the session is over), true otherwise — a refresh that could not get
 * through (no answer, network, 5xx, rate limit) is no sign-out, and the channel's next reconnection tries again.
 */
export async function refreshUnlessRefused(): Promise<boolean> {
  try {
    await refreshSession();
    return true;
  } catch (err) {
    return !(err instanceof ApiError && err.status === 401);
  }
}

/**
 * Calls the API; when the access token has expired (401) it refreshes it once with the refresh cookie and
 * retries. Rejects with ApiError: the 401 when the refresh was refused too (the session is over), else what
 * stopped the refresh (no answer, network, 5xx): that is no sign-out.
 */
export async function api<T>(method: Method, path: string, body?: unknown): Promise<T> {
  try {
    return await send<T>(method, path, body);
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 401 || path.startsWith('/api/auth/')) throw err;
    try {
      await refreshSession();
    } catch (refreshError) {
      throw refreshError instanceof ApiError && refreshError.status !== 401 ? refreshError : err;
    }
    return send<T>(method, path, body);
  }
}
