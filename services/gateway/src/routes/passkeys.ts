/**
 * Passkeys (identity's PasskeyService). Sign-in (`/api/auth/passkeys/sign-in/*`, public, rate-limited like the
 * password sign-in): the ceremony is bound to this browser by an httpOnly cookie and the tokens go into cookies as
 * after a password sign-in. Registration (`/api/auth/passkeys/register/*`) needs a signed-in user (the enrollment-
 * only token of a user who must set up MFA is enough). `/api/me/passkeys` lists and removes one's own passkeys;
 * `/api/users/:id/passkeys` lets an admin do the same for anyone (the reset of a lost passkey).
 * The browser's WebAuthn responses are passed on as JSON and never logged.
 */
import type { Request, Response, Router } from 'express';
import type { passkeys as pb } from '@haven/proto';
import type {
  LoginView,
  PasskeyListView,
  PasskeyPolicyView,
  PasskeyRegisteredView,
  PasskeyRegistrationStartView,
  PasskeySignInStartView,
  PasskeyView,
  WebAuthnOptionsView,
} from '../account-view';
import type { RouteContext } from '../context';
import { asRecord, invalid, send, stringField } from '../http';
import { httpError, httpErrorFromGrpc } from '../http-errors';
import type { HttpFieldViolation } from '../http-errors';
import { COOKIES, cookie } from '../security';
import { staff } from './guards';
import { roleName } from '../staff-roles';
import { webAuthnOptions, type WebAuthnCeremony } from '../webauthn-options';

const ID = /^[A-Za-z0-9_-]{1,1024}$/;
const USER_ID = /^[a-z0-9][a-z0-9-]{3,62}$/;

/** The browser's view of a passkey. */
function passkeyJson(p: pb.Passkey | undefined): PasskeyView {
  const id = p?.name.slice(p.name.lastIndexOf('/') + 1) ?? '';
  return {
    id,
    name: p?.displayName ?? '',
    aaguid: p?.aaguid ?? '',
    backedUp: p?.backedUp ?? false,
    createdAt: p?.createTime?.toISOString() ?? null,
    lastUsedAt: p?.lastUseTime?.toISOString() ?? null,
  };
}

/** The `response` object of a finish request as JSON text, or undefined after answering 400. */
function responseJsonOf(req: Request, res: Response, violations: HttpFieldViolation[]): string | undefined {
  const response = asRecord(req.body)['response'];
  if (typeof response !== 'object' || response === null)
    violations.push({ field: 'response', description: 'the WebAuthn response is required' });
  if (invalid(res, violations)) return undefined;
  return JSON.stringify(response);
}

/**
 * Identity's WebAuthn options for the browser's WebAuthn library, or undefined after answering 502 when they are
 * malformed: none of them is passed on or logged.
 */
function optionsFor(
  ctx: RouteContext,
  res: Response,
  answer: { rpc: string; optionsJson: string; ceremony: WebAuthnCeremony },
): WebAuthnOptionsView | undefined {
  const options = webAuthnOptions(answer.optionsJson, answer.ceremony);
  if (options) return options;
  ctx.logger.warn(
    { rpc: answer.rpc, correlationId: res.locals['correlationId'] },
    'identity answered malformed WebAuthn options',
  );
  send(res, httpError('BAD_GATEWAY'));
  return undefined;
}

/** Registers the passkey routes on the /api router. Without a passkeys client they answer 503. */
export function registerPasskeyRoutes(api: Router, ctx: RouteContext): void {
  const client = ctx.clients.passkeys;
  if (!client) {
    api.use(['/auth/passkeys', '/me/passkeys'], (_req, res) => send(res, httpError('UNAVAILABLE')));
    return;
  }
  registerSignIn(api, ctx, client);

  api.post(
    '/auth/passkeys/register/start',
    staff(ctx, { rpc: 'identity.StartPasskeyRegistration' }, async (_req, res, { token }) => {
      const r = await ctx.call(res, token, client, 'startPasskeyRegistration', {});
      const rpc = 'identity.StartPasskeyRegistration';
      const options = optionsFor(ctx, res, { rpc, optionsJson: r.optionsJson, ceremony: 'creation' });
      if (!options) return;
      res.status(200).json({ ceremony: r.ceremony, options } satisfies PasskeyRegistrationStartView);
    }),
  );

  api.post(
    '/auth/passkeys/register/finish',
    staff(
      ctx,
      { rpc: 'identity.FinishPasskeyRegistration', fields: { display_name: 'name' } },
      async (req, res, { token }) => {
        const violations: HttpFieldViolation[] = [];
        const body = asRecord(req.body);
        const ceremony = stringField(body, 'ceremony', 64, violations) ?? '';
        const name = stringField(body, 'name', 100, violations) ?? '';
        if (ceremony === '') violations.push({ field: 'ceremony', description: 'is required' });
        const responseJson = responseJsonOf(req, res, violations);
        if (responseJson === undefined) return;
        const r = await ctx.call(res, token, client, 'finishPasskeyRegistration', {
          ceremony,
          responseJson,
          displayName: name,
        });
        res.status(201).json({ passkey: passkeyJson(r.passkey) } satisfies PasskeyRegisteredView);
      },
    ),
  );

  const list = (userOf: (req: Request, sub: string) => string | undefined) =>
    staff(ctx, { rpc: 'identity.ListPasskeys' }, async (req, res, { token, principal }) => {
      const userId = userOf(req, principal.id);
      if (userId === undefined) return send(res, httpError('NOT_FOUND'));
      const r = await ctx.call(res, token, client, 'listPasskeys', { parent: `users/${userId}` });
      res.status(200).json({ passkeys: r.passkeys.map(passkeyJson) } satisfies PasskeyListView);
    });
  const remove = (userOf: (req: Request, sub: string) => string | undefined) =>
    staff(ctx, { rpc: 'identity.DeletePasskey' }, async (req, res, { token, principal }) => {
      const userId = userOf(req, principal.id);
      const passkeyId = req.params['passkeyId'];
      if (userId === undefined || typeof passkeyId !== 'string' || !ID.test(passkeyId))
        return send(res, httpError('NOT_FOUND'));
      await ctx.call(res, token, client, 'deletePasskey', { name: `users/${userId}/passkeys/${passkeyId}` });
      res.status(204).end();
    });
  const self = (_req: Request, sub: string) => sub;
  const named = (req: Request) => {
    const id = req.params['userId'];
    return typeof id === 'string' && USER_ID.test(id) ? id : undefined;
  };
  registerPolicy(api, ctx, client);
  api.get('/me/passkeys', list(self));
  api.delete('/me/passkeys/:passkeyId', remove(self));
  api.get('/users/:userId/passkeys', list(named));
  api.delete('/users/:userId/passkeys/:passkeyId', remove(named));
}

/** POST /auth/passkeys/sign-in/start and /finish: the passwordless sign-in. */
function registerSignIn(api: Router, ctx: RouteContext, client: pb.PasskeyServiceClient): void {
  const { cookies } = ctx;

  api.post('/auth/passkeys/sign-in/start', async (_req, res) => {
    try {
      const r = await ctx.call(res, undefined, client, 'startPasskeySignIn', {});
      const rpc = 'identity.StartPasskeySignIn';
      const options = optionsFor(ctx, res, { rpc, optionsJson: r.optionsJson, ceremony: 'request' });
      if (!options) return;
      cookies.setPasskeyCeremony(res, r.ceremony);
      res.status(200).json({ options } satisfies PasskeySignInStartView);
    } catch (err) {
      ctx.logCallFailure(res, 'identity.StartPasskeySignIn', err);
      send(res, httpErrorFromGrpc(err));
    }
  });

  api.post('/auth/passkeys/sign-in/finish', async (req, res) => {
    const ceremony = cookie(req, COOKIES.passkey) ?? '';
    cookies.clearPasskeyCeremony(res);
    const responseJson = responseJsonOf(req, res, []);
    if (responseJson === undefined) return;
    let response: pb.FinishPasskeySignInResponse;
    try {
      response = await ctx.call(res, undefined, client, 'finishPasskeySignIn', { ceremony, responseJson });
    } catch (err) {
      ctx.logCallFailure(res, 'identity.FinishPasskeySignIn', err);
      const mapped = httpErrorFromGrpc(err);
      if (mapped.status === 401 || mapped.status === 400) {
        res
          .status(401)
          .json({ error: { code: 'UNAUTHENTICATED', message: 'The passkey was not accepted.' } });
        return;
      }
      send(res, mapped);
      return;
    }
    if (!cookies.setTokens(res, response.tokens)) {
      send(res, httpError('INTERNAL'));
      return;
    }
    cookies.setCsrf(res); // a new session gets a new CSRF token
    const view: LoginView = {
      user: { role: roleName(response.user?.role) },
      mfaEnrollmentRequired: false,
      passwordChangeRequired: response.passwordChangeRequired,
    };
    res.status(200).json(view);
  });
}

const ATTESTATION = { none: 1, direct: 2 } as const;

function policyJson(p: pb.PasskeyPolicy | undefined): PasskeyPolicyView {
  return {
    attestation: p?.attestation === ATTESTATION.direct ? 'direct' : 'none',
    allowedAaguids: p?.allowedAaguids ?? [],
  };
}

/** GET and PUT /passkey-policy (admin): the clinic's attestation policy for new passkeys. */
function registerPolicy(api: Router, ctx: RouteContext, client: pb.PasskeyServiceClient): void {
  const route = {
    rpc: 'identity.PasskeyPolicy',
    roles: ['admin'],
    fields: { allowed_aaguids: 'allowedAaguids' },
  };
  api.get(
    '/passkey-policy',
    staff(ctx, route, async (_req, res, { token }) => {
      const r = await ctx.call(res, token, client, 'getPasskeyPolicy', {});
      res.status(200).json(policyJson(r.policy));
    }),
  );
  api.put(
    '/passkey-policy',
    staff(ctx, route, async (req, res, { token }) => {
      const body = asRecord(req.body);
      const attestation =
        body['attestation'] === 'direct'
          ? ATTESTATION.direct
          : body['attestation'] === 'none'
            ? ATTESTATION.none
            : 0;
      const aaguids = Array.isArray(body['allowedAaguids']) ? body['allowedAaguids'] : [];
      const violations: HttpFieldViolation[] = [];
      if (attestation === 0) violations.push({ field: 'attestation', description: 'must be none or direct' });
      if (aaguids.length > 50 || aaguids.some((a) => typeof a !== 'string' || a.length > 64))
        violations.push({ field: 'allowedAaguids', description: 'at most 50 AAGUIDs' });
      if (invalid(res, violations)) return;
      const r = await ctx.call(res, token, client, 'updatePasskeyPolicy', {
        policy: { attestation, allowedAaguids: aaguids as string[] },
      });
      res.status(200).json(policyJson(r.policy));
    }),
  );
}
