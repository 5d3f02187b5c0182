// Talks to the gateway's JSON API. Tokens live in httpOnly cookies the page cannot read; the page only echoes
// the CSRF cookie in the x-csrf-token header on every state-changing request (double-submit).

/** An API error: `status`, `code`, a message safe to show, and field violations keyed by field name. */
export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || 'Something went wrong. Please try again.');
    this.name = 'ApiError';
    this.status = status;
    this.code = error.code || 'INTERNAL';
    this.fieldViolations = Array.isArray(error.fieldViolations) ? error.fieldViolations : [];
  }
}

/** The CSRF token the gateway set in the `haven_csrf` cookie ('' when none). */
export function csrfToken() {
  const match = document.cookie.split('; ').find((c) => c.startsWith('haven_csrf='));
  return match ? decodeURIComponent(match.slice('haven_csrf='.length)) : '';
}

async function send(method, path, body) {
  const headers = { accept: 'application/json' };
  if (method !== 'GET') {
    headers['content-type'] = 'application/json';
    headers['x-csrf-token'] = csrfToken();
  }
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      credentials: 'same-origin',
      body: method === 'GET' ? undefined : JSON.stringify(body ?? {}),
    });
  } catch {
    throw new ApiError(0, {
      error: { code: 'NETWORK', message: 'Cannot reach Haven. Check your connection.' },
    });
  }
  if (res.status === 204) return null;
  const data = await res.json().catch(() => null);
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

let refreshing = null;
let refreshedAt = 0;

/** When this page last refreshed the session successfully (ms since the epoch; 0 when never). */
export function lastRefreshAt() {
  return refreshedAt;
}

/**
 * Refreshes the session's tokens with the refresh cookie (POST /api/auth/refresh), which also tells identity the
 * user is active. Calls made while one is under way share it: the refresh token rotates, and presenting a rotated
 * one again ends the session as a stolen token would. Rejects with ApiError.
 */
export function refreshSession() {
  refreshing ??= send('POST', '/api/auth/refresh', {})
    .then((r) => {
      refreshedAt = Date.now();
      return r;
    })
    .finally(() => {
      refreshing = null;
    });
  return refreshing;
}

/**
 * Calls the API; when the access token has expired (401) it refreshes it once with the refresh cookie and
 * retries. Rejects with ApiError.
 */
export async function api(method, path, body) {
  try {
    return await send(method, path, body);
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 401 || path.startsWith('/api/auth/')) throw err;
    try {
      await refreshSession();
    } catch {
      throw err;
    }
    return send(method, path, body);
  }
}
