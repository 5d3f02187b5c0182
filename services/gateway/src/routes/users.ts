/**
 * The admin's users and usage (`/api/users`, `/api/usage`), each an identity or scheduling RPC with the admin's own
 * token (identity records the events and enforces the last-admin rules; the policy table refuses other roles):
 *
 * - `GET /users`: every staff user (identity ListUsers, pages followed up to 1000 users).
 * - `POST /users` `{ email, displayName, role }`: invites one (CreateUser); the one-time invitation token and the
 *   page that activates it are answered once.
 * - `POST /users/:id/disable`, `/enable`, `/reset-mfa`: DeactivateUser, ActivateUser (reactivation), ResetMfa.
 * - `GET /usage?from=&to=&timeZone=`: scheduling GetUsageReport (counts only, no PHI).
 * - `POST /auth/activate` `{ invitationToken, password }`: the invited person sets their first password
 *   (ActivateUser, no session; under the sign-in rate limit of /auth). They sign in next and enrol a second factor.
 */
import type { Router } from 'express';
import { identity } from '@haven/proto';
import type { scheduling } from '@haven/proto';
import type { RouteContext } from '../context';
import { asRecord, invalid, send, lastSegment, pathId, queryText, stringField } from '../http';
import { httpErrorFromGrpc, type HttpFieldViolation } from '../http-errors';
import { staff } from './guards';
import { oneCall } from './one-call';
import type { CallInput } from './one-call';
import { ROLE_NAMES, ROLE_OF_NAME } from '../staff-roles';
import type {
  ActivationView,
  InvitationView,
  StaffUserListView,
  StaffUserView,
  UsageCountsView,
  UsageReportView,
  UserStateName,
} from '../admin-view';

const ADMIN = ['admin'] as const;
const STATE_NAMES: Readonly<Record<number, UserStateName>> = {
  [identity.UserState.USER_STATE_INVITED]: 'invited',
  [identity.UserState.USER_STATE_ACTIVE]: 'active',
  [identity.UserState.USER_STATE_LOCKED]: 'locked',
  [identity.UserState.USER_STATE_DEACTIVATED]: 'disabled',
};
const EMAIL = /^[^\s@]{1,64}@[^\s@]{1,190}\.[^\s@]{1,60}$/;
const DAY = /^\d{4}-\d{2}-\d{2}$/;
const TIME_ZONE = /^[A-Za-z0-9_+\-/]{1,64}$/;
const MAX_PAGES = 10;

/** A staff user as the admin console reads it (no credentials). */
export function userJson(u: identity.User): StaffUserView {
  return {
    id: lastSegment(u.name),
    username: u.username,
    displayName: u.displayName,
    email: u.email,
    role: ROLE_NAMES[u.role] ?? 'unknown',
    state: STATE_NAMES[u.state] ?? 'unknown',
    mfaEnrolled: u.mfaEnrolled,
    createTime: u.createTime?.toISOString() ?? null,
    lastLoginTime: u.lastLoginTime?.toISOString() ?? null,
  };
}

function countsJson(c: scheduling.UsageCounts | undefined): UsageCountsView {
  return {
    appointments: c?.appointments ?? 0,
    completed: c?.completed ?? 0,
    noShows: c?.noShows ?? 0,
    cancelled: c?.cancelled ?? 0,
    completedMinutes: c?.completedMinutes ?? 0,
  };
}

/** The invitation form as a CreateUserRequest; its field violations in `violations`. */
function inviteRequest({ body, violations }: CallInput): identity.CreateUserRequest {
  const email = (stringField(body, 'email', 254, violations) ?? '').trim().toLowerCase();
  const displayName = (stringField(body, 'displayName', 120, violations) ?? '').trim();
  const roleName = stringField(body, 'role', 20, violations) ?? '';
  const role = ROLE_OF_NAME.get(roleName);
  if (!EMAIL.test(email)) violations.push({ field: 'email', description: 'must be an e-mail address' });
  if (displayName === '') violations.push({ field: 'displayName', description: 'is required' });
  if (role === undefined)
    violations.push({ field: 'role', description: `must be one of ${[...ROLE_OF_NAME.keys()].join(', ')}` });
  return identity.CreateUserRequest.fromPartial({
    user: { username: email, email, displayName, ...(role === undefined ? {} : { role }) },
  });
}

/** The usage report's query (`?from=&to=&timeZone=`); its field violations in `violations`. */
function usageRequest({ req, violations }: CallInput): scheduling.GetUsageReportRequest {
  const from = queryText(req, 'from');
  const to = queryText(req, 'to');
  const timeZone = queryText(req, 'timeZone');
  if (!DAY.test(from)) violations.push({ field: 'from', description: 'must be YYYY-MM-DD' });
  if (!DAY.test(to)) violations.push({ field: 'to', description: 'must be YYYY-MM-DD' });
  if (timeZone !== '' && !TIME_ZONE.test(timeZone))
    violations.push({ field: 'timeZone', description: 'must be an IANA time zone' });
  return { startDay: from, endDay: to, timeZone };
}

/** Registers the admin's user and usage routes on the /api router. */
export function registerUserRoutes(api: Router, ctx: RouteContext): void {
  const { clients } = ctx;

  api.get(
    '/users',
    staff(ctx, { rpc: 'identity.ListUsers', roles: ADMIN }, async (_req, res, { token }) => {
      const users: identity.User[] = [];
      let pageToken = '';
      for (let page = 0; page < MAX_PAGES; page += 1) {
        const r = await ctx.call(
          res,
          token,
          clients.identity,
          'listUsers',
          identity.ListUsersRequest.fromPartial({ pageSize: 100, pageToken }),
        );
        users.push(...r.users);
        pageToken = r.nextPageToken;
        if (pageToken === '') break;
      }
      res.status(200).json({ users: users.map(userJson) } satisfies StaffUserListView);
    }),
  );

  api.post(
    '/users',
    staff(
      ctx,
      {
        rpc: 'identity.CreateUser',
        roles: ADMIN,
        fields: {
          'user.username': 'email',
          'user.email': 'email',
          'user.display_name': 'displayName',
          'user.role': 'role',
        },
      },
      oneCall(ctx, {
        client: 'identity',
        method: 'createUser',
        request: inviteRequest,
        status: 201,
        view: (r): InvitationView => ({
          user: r.user ? userJson(r.user) : null,
          invitationToken: r.invitationToken,
          invitationExpireTime: r.invitationExpireTime?.toISOString() ?? null,
          // The token rides in the fragment: it never reaches a server log.
          activationPath: `/#invitation=${encodeURIComponent(r.invitationToken)}`,
        }),
      }),
    ),
  );

  const action = (path: string, rpc: 'deactivateUser' | 'activateUser' | 'resetMfa', label: string) =>
    api.post(
      `/users/:id/${path}`,
      staff(ctx, { rpc: `identity.${label}`, roles: ADMIN }, async (req, res, { token }) => {
        const id = pathId(req, res);
        if (!id) return;
        const name = `users/${id}`;
        const r =
          rpc === 'activateUser'
            ? await ctx.call(
                res,
                token,
                clients.identity,
                rpc,
                identity.ActivateUserRequest.fromPartial({ name }),
              )
            : await ctx.call(res, token, clients.identity, rpc, { name });
        res.status(200).json({ user: r.user ? userJson(r.user) : null });
      }),
    );
  action('disable', 'deactivateUser', 'DeactivateUser');
  action('enable', 'activateUser', 'ActivateUser');
  action('reset-mfa', 'resetMfa', 'ResetMfa');

  registerActivationRoute(api, ctx);
  registerUsageRoute(api, ctx);
}

/** POST /auth/activate: the invited person's first password (public; the /auth rate limit applies). */
function registerActivationRoute(api: Router, ctx: RouteContext): void {
  const { clients } = ctx;
  api.post('/auth/activate', async (req, res) => {
    const body = asRecord(req.body);
    const violations: HttpFieldViolation[] = [];
    const invitationToken = stringField(body, 'invitationToken', 512, violations) ?? '';
    const password = stringField(body, 'password', 1024, violations) ?? '';
    if (invitationToken === '') violations.push({ field: 'invitationToken', description: 'is required' });
    if (password === '') violations.push({ field: 'password', description: 'is required' });
    if (invalid(res, violations)) return;
    try {
      const r = await ctx.call(
        res,
        undefined,
        clients.identity,
        'activateUser',
        identity.ActivateUserRequest.fromPartial({ invitationToken, password }),
      );
      res.status(200).json({ username: r.user?.username ?? '' } satisfies ActivationView);
    } catch (err) {
      ctx.logCallFailure(res, 'identity.ActivateUser', err);
      const mapped = httpErrorFromGrpc(err, { password: 'password', invitation_token: 'invitationToken' });
      if (mapped.status === 401) {
        res.status(401).json({
          error: {
            code: 'UNAUTHENTICATED',
            message: 'This invitation link is not valid any more. Ask for a new one.',
          },
        });
        return;
      }
      send(res, mapped);
    }
  });
}

/** GET /usage (admins): scheduling's GetUsageReport. */
function registerUsageRoute(api: Router, ctx: RouteContext): void {
  api.get(
    '/usage',
    staff(
      ctx,
      {
        rpc: 'scheduling.GetUsageReport',
        roles: ADMIN,
        fields: { start_day: 'from', end_day: 'to', time_zone: 'timeZone' },
      },
      oneCall(ctx, {
        client: 'scheduling',
        method: 'getUsageReport',
        request: usageRequest,
        view: (r): UsageReportView => ({
          total: countsJson(r.total),
          clinicians: r.clinicians.map((c) => ({
            clinicianId: lastSegment(c.clinician),
            ...countsJson(c.counts),
          })),
        }),
      }),
    ),
  );
}
