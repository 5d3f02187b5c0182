/**
 * Staff single sign-on (`/api/auth/sso/*`) and the admin's SSO accounts (`/api/sso-accounts`):
 *
 * - `GET /auth/sso/providers`: the clinics' providers, for the "Sign in with …" buttons.
 * - `GET /auth/sso/:provider/start`: redirects to the provider (code flow, PKCE) with the transaction cookie set.
 * - `GET /auth/sso/callback`: the provider's redirect. The transaction cookie is taken (and cleared), the state
 *   checked and spent, the code exchanged (openid-client checks iss, PKCE and the ID token), then identity's
 *   SignInWithSso decides. A session's cookies are set exactly as a password sign-in's, and the browser goes to `/`;
 *   a sign-in waiting for approval to `/?sso=pending`, one identity refuses to `/?sso=refused`. A callback that
 *   fails the checks (no or foreign transaction, replayed state, a provider error, a bad code or ID token) is
 *   answered 401 here and recorded as the gateway's refusal.
 * - `GET /sso-accounts`, `POST /sso-accounts/:id/approve` and `/reject`: identity's ListSsoAccounts,
 *   ApproveSsoAccount and RejectSsoAccount (admins).
 */
import { status as grpcStatus } from '@grpc/grpc-js';
import type { Request, Response, Router } from 'express';
import { identity } from '@haven/proto';
import { callUnary, forwardClientAddress, parseStatusDetails } from '@haven/service';
import type { SsoAccountListView, SsoAccountView, SsoProviderListView } from '../account-view';
import type { RouteContext } from '../context';
import { asRecord, invalid, queryText, stringField } from '../http';
import type { HttpFieldViolation } from '../http-errors';
import { noteRefusal } from '../refusals';
import { SSO_PROVIDER_COOKIE, type SsoRelyingParty } from '../sso';
import { staff } from './guards';
import { ROLE_NAMES, ROLE_OF_NAME } from '../staff-roles';

/** Options of {@link registerSsoRoutes}. */
export interface SsoRouteOptions {
  /** None: local accounts only (the provider list is empty, nothing else is registered). */
  readonly relyingParty: SsoRelyingParty | undefined;
  /** Identity's forwarder secret (see ./auth): the browser's address goes along with SignInWithSso. */
  readonly forwarderSecret?: string | undefined;
}

const STATE_NAMES: Readonly<Record<number, string>> = {
  [identity.SsoAccountState.SSO_ACCOUNT_STATE_PENDING]: 'pending',
  [identity.SsoAccountState.SSO_ACCOUNT_STATE_APPROVED]: 'approved',
  [identity.SsoAccountState.SSO_ACCOUNT_STATE_REJECTED]: 'rejected',
};
const STATE_OF_NAME = new Map(
  Object.entries(STATE_NAMES).map(([k, v]) => [v, Number(k) as identity.SsoAccountState]),
);
const ACCOUNT_ID = /^[a-f0-9]{32}$/;

/**
 * Answers a callback that failed the gateway's checks: 401, a page with a way back, logged and recorded as a
 * refusal (`code`, and a `reason` that names the failed check, never a token).
 */
function refuseCallback(ctx: RouteContext, res: Response, code: string, reason: string): void {
  ctx.logger.warn(
    { correlationId: res.locals['correlationId'], code, failedCheck: reason },
    'SSO callback refused',
  );
  noteRefusal(res, { kind: 'unauthenticated', code, reason });
  res
    .status(401)
    .type('html')
    .send(
      '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign-in failed</title></head>' +
        '<body><main><h1>Sign-in failed</h1><p>The sign-in could not be completed. ' +
        '<a href="/?sso=failed">Return to Haven</a> and try again.</p></main></body></html>',
    );
}

/**
 * What failed in a code exchange, for the log: openid-client's code, the provider's error, the message and the
 * message (and JWT claim) of its cause, which names the check (`unexpected "iss" (issuer) response parameter`).
 */
function exchangeFailure(err: unknown): string {
  const e = err as { code?: unknown; error?: unknown; message?: unknown; cause?: unknown };
  const cause = (e.cause ?? {}) as { message?: unknown; claim?: unknown; error?: unknown };
  return [e.code, e.error, e.message, cause.error, cause.message, cause.claim]
    .filter((p): p is string => typeof p === 'string' && p !== '')
    .join(': ')
    .slice(0, 300);
}

function accountJson(a: identity.SsoAccount): SsoAccountView {
  return {
    id: a.name.slice('ssoAccounts/'.length),
    identityProvider: a.identityProvider.slice('identityProviders/'.length),
    email: a.email,
    displayName: a.displayName,
    requestedRole: ROLE_NAMES[a.requestedRole] ?? 'unknown',
    state: STATE_NAMES[a.state] ?? 'unknown',
    userId: a.user ? a.user.slice('users/'.length) : null,
    createTime: a.createTime?.toISOString() ?? null,
  };
}

/** GET /auth/sso/callback. */
function callback(ctx: RouteContext, rp: SsoRelyingParty, options: SsoRouteOptions) {
  return async (req: Request, res: Response): Promise<void> => {
    const tx = rp.takeTransaction(req, res);
    const state = queryText(req, 'state');
    if (!tx) return refuseCallback(ctx, res, 'SSO_NO_TRANSACTION', 'no sign-in in progress in this browser');
    const provider = rp.provider(tx.p);
    if (!provider) return refuseCallback(ctx, res, 'SSO_NO_TRANSACTION', 'unknown provider');
    if (state !== tx.s)
      return refuseCallback(ctx, res, 'SSO_STATE_MISMATCH', 'state does not match this browser');
    if (!rp.consumeState(state)) return refuseCallback(ctx, res, 'SSO_STATE_REPLAYED', 'state used before');
    const currentUrl = new URL(req.originalUrl, rp.options.publicUrl);
    let idToken: string;
    try {
      idToken = await rp.exchange(provider, tx, currentUrl);
    } catch (err) {
      return refuseCallback(ctx, res, 'SSO_CALLBACK_INVALID', exchangeFailure(err));
    }
    const metadata = ctx.metadataFor(res);
    if (options.forwarderSecret !== undefined && req.ip !== undefined)
      forwardClientAddress(metadata, { clientAddress: req.ip, forwarderSecret: options.forwarderSecret });
    let response: identity.SignInWithSsoResponse;
    try {
      response = await callUnary(
        ctx.clients.identity,
        'signInWithSso',
        { identityProvider: `identityProviders/${provider.id}`, idToken, nonce: tx.n },
        metadata,
        { deadlineMs: ctx.deadlineMs },
      );
    } catch (err) {
      ctx.logCallFailure(res, 'identity.SignInWithSso', err);
      const details = parseStatusDetails(err as Parameters<typeof parseStatusDetails>[0]);
      if (details.code === grpcStatus.FAILED_PRECONDITION && details.reason === 'SSO_APPROVAL_PENDING')
        return res.redirect(303, '/?sso=pending');
      if (details.code === grpcStatus.PERMISSION_DENIED) return res.redirect(303, '/?sso=refused');
      if (details.code === grpcStatus.UNAUTHENTICATED)
        return refuseCallback(ctx, res, 'SSO_ID_TOKEN_REFUSED', 'identity refused the ID token');
      return res.redirect(303, '/?sso=unavailable');
    }
    if (!ctx.cookies.setTokens(res, response.tokens)) return res.redirect(303, '/?sso=unavailable');
    ctx.cookies.setCsrf(res);
    res.cookie(SSO_PROVIDER_COOKIE, provider.id, rp.providerCookie());
    res.redirect(303, '/');
  };
}

/** Registers the SSO routes on the /api router. */
export function registerSsoRoutes(api: Router, ctx: RouteContext, options: SsoRouteOptions): void {
  const rp = options.relyingParty;

  api.get('/auth/sso/providers', (_req, res) => {
    const view: SsoProviderListView = {
      providers: (rp?.options.providers ?? []).map((p) => ({
        id: p.id,
        displayName: p.displayName,
        startUrl: `/api/auth/sso/${p.id}/start`,
      })),
    };
    res.status(200).json(view);
  });

  if (rp === undefined) return;
  api.get('/auth/sso/callback', callback(ctx, rp, options));

  api.get('/auth/sso/:provider/start', async (req, res) => {
    const provider = rp.provider(String(req.params['provider']));
    if (!provider) {
      res.status(404).json({ error: { code: 'NOT_FOUND', message: 'No such identity provider.' } });
      return;
    }
    try {
      res.redirect(303, (await rp.start(provider, res)).href);
    } catch (err) {
      ctx.logger.warn({ err, provider: provider.id }, 'SSO provider unreachable');
      res.redirect(303, '/?sso=unavailable');
    }
  });

  api.get(
    '/sso-accounts',
    staff(ctx, { rpc: 'identity.ListSsoAccounts', roles: ['admin'] }, async (req, res, { token }) => {
      const state = STATE_OF_NAME.get(queryText(req, 'state'));
      const r = await ctx.call(
        res,
        token,
        ctx.clients.identity,
        'listSsoAccounts',
        identity.ListSsoAccountsRequest.fromPartial({ pageSize: 100, ...(state ? { state } : {}) }),
      );
      res.status(200).json({ accounts: r.ssoAccounts.map(accountJson) } satisfies SsoAccountListView);
    }),
  );

  for (const verb of ['approve', 'reject'] as const) {
    api.post(
      `/sso-accounts/:id/${verb}`,
      staff(
        ctx,
        { rpc: `identity.${verb === 'approve' ? 'Approve' : 'Reject'}SsoAccount`, roles: ['admin'] },
        async (req, res, { token }) => {
          const id = String(req.params['id']);
          const body = asRecord(req.body);
          const violations: HttpFieldViolation[] = [];
          const role = stringField(body, 'role', 32, violations);
          const reason = stringField(body, 'reason', 500, violations) ?? '';
          if (!ACCOUNT_ID.test(id)) violations.push({ field: 'id', description: 'not an SSO account id' });
          if (role !== undefined && !ROLE_OF_NAME.has(role))
            violations.push({ field: 'role', description: 'admin, clinician, front_desk or auditor' });
          if (invalid(res, violations)) return;
          const name = `ssoAccounts/${id}`;
          const account =
            verb === 'approve'
              ? (
                  await ctx.call(res, token, ctx.clients.identity, 'approveSsoAccount', {
                    name,
                    role: role === undefined ? 0 : (ROLE_OF_NAME.get(role) ?? 0),
                  })
                ).ssoAccount
              : (await ctx.call(res, token, ctx.clients.identity, 'rejectSsoAccount', { name, reason }))
                  .ssoAccount;
          res.status(200).json({ account: account ? accountJson(account) : null });
        },
      ),
    );
  }
}
