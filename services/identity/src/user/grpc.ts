/**
 * gRPC handlers of the user RPCs: CreateUser, GetUser, ListUsers, ActivateUser (activation and an admin's
 * reactivation), DeactivateUser, ChangeUserRole; and the proto mapping of a user, which other slices' answers
 * carry too.
 */
import { PermissionError, UnauthenticatedError, ValidationError } from '@haven/errors';
import { identity } from '@haven/proto';
import type { CallContext } from '@haven/service';
import {
  protoDate,
  protoToName,
  userIdOf,
  type IdentityGrpcAccess,
  type IdentityHandlers,
} from '../shared/grpc-access';
import { Role } from './user';
import type { UserService } from './user-service';
import type { UserView } from './view';

/** A Haven role as the proto enum (shared by every slice whose answers name a role). */
export const ROLE_TO_PROTO: Record<Role, identity.Role> = {
  admin: identity.Role.ROLE_ADMIN,
  clinician: identity.Role.ROLE_CLINICIAN,
  front_desk: identity.Role.ROLE_FRONT_DESK,
  auditor: identity.Role.ROLE_AUDITOR,
};
/** The proto enum back to a Haven role (unknown numbers are absent). */
export const PROTO_TO_ROLE = protoToName(ROLE_TO_PROTO);
const STATE_TO_PROTO: Record<UserView['status'], identity.UserState> = {
  invited: identity.UserState.USER_STATE_INVITED,
  active: identity.UserState.USER_STATE_ACTIVE,
  locked: identity.UserState.USER_STATE_LOCKED,
  deactivated: identity.UserState.USER_STATE_DEACTIVATED,
};
const PROTO_TO_STATE = protoToName(STATE_TO_PROTO);

/** Maps a view to the proto User. */
export function toProtoUser(v: UserView): identity.User {
  return {
    name: `users/${v.userId}`,
    username: v.username,
    displayName: v.displayName,
    email: v.email,
    role: ROLE_TO_PROTO[v.role],
    state: STATE_TO_PROTO[v.status],
    mfaEnrolled: v.mfaEnrolled,
    createTime: new Date(v.createdAt),
    updateTime: new Date(v.updatedAt),
    passwordChangeTime: protoDate(v.passwordChangedAt),
    lastLoginTime: protoDate(v.lastLoginAt),
    etag: v.etag,
  };
}

function roleOf(value: number, field: string): Role {
  const role = PROTO_TO_ROLE.get(value);
  if (!role)
    throw new ValidationError([
      { field, description: 'must be ROLE_ADMIN, ROLE_CLINICIAN, ROLE_FRONT_DESK or ROLE_AUDITOR' },
    ]);
  return role;
}

/** The user RPCs over `users`. */
export function userHandlers(users: UserService, access: IdentityGrpcAccess): IdentityHandlers {
  const { caller, admin } = access;
  return {
    createUser: async (
      req: identity.CreateUserRequest,
      ctx: CallContext,
    ): Promise<identity.CreateUserResponse> => {
      const { cmd } = await admin(ctx);
      const u = req.user;
      if (!u) throw new ValidationError([{ field: 'user', description: 'required' }]);
      const created = await users.inviteUser(cmd, {
        username: u.username,
        email: u.email,
        displayName: u.displayName,
        role: roleOf(u.role, 'user.role'),
        ...(req.userId ? { userId: req.userId } : {}),
      });
      return {
        user: toProtoUser(created.user),
        invitationToken: created.invitationToken,
        invitationExpireTime: new Date(created.invitationExpiresAt),
      };
    },

    getUser: async (req: identity.GetUserRequest, ctx: CallContext): Promise<identity.GetUserResponse> => {
      const { principal } = await caller(ctx);
      const userId = userIdOf(req.name);
      if (principal.role !== Role.Admin && principal.id !== userId)
        throw new PermissionError('you may read only your own user');
      return { user: toProtoUser(await users.getUser(userId)) };
    },

    listUsers: (req: identity.ListUsersRequest, ctx: CallContext) => listUsers(users, access, req, ctx),

    activateUser: (req: identity.ActivateUserRequest, ctx: CallContext) =>
      activateUser(users, access, req, ctx),

    deactivateUser: async (
      req: identity.DeactivateUserRequest,
      ctx: CallContext,
    ): Promise<identity.DeactivateUserResponse> => {
      const { cmd } = await admin(ctx);
      return {
        user: toProtoUser(await users.deactivateUser(cmd, userIdOf(req.name), 'deactivated by an admin')),
      };
    },

    changeUserRole: async (
      req: identity.ChangeUserRoleRequest,
      ctx: CallContext,
    ): Promise<identity.ChangeUserRoleResponse> => {
      const { cmd } = await admin(ctx);
      const view = await users.changeUserRole(
        cmd,
        userIdOf(req.name),
        roleOf(req.role, 'role'),
        req.etag || undefined,
      );
      return { user: toProtoUser(view) };
    },
  };
}

/** ListUsers: admins see everyone; front desk (booking for clinicians) only active clinicians' ids and names. */
async function listUsers(
  users: UserService,
  access: IdentityGrpcAccess,
  req: identity.ListUsersRequest,
  ctx: CallContext,
): Promise<identity.ListUsersResponse> {
  const { principal } = await access.caller(ctx, [Role.Admin, Role.FrontDesk]);
  const role = req.role ? roleOf(req.role, 'role') : undefined;
  const status = req.state ? PROTO_TO_STATE.get(req.state) : undefined;
  if (req.state && !status) throw new ValidationError([{ field: 'state', description: 'unknown state' }]);
  if (principal.role === Role.FrontDesk) {
    // Front desk books for clinicians: only active clinicians, only their id and display name.
    if (role !== undefined && role !== Role.Clinician)
      throw new PermissionError('front desk may list only clinicians');
    const page = await users.listUsers({
      pageSize: req.pageSize,
      pageToken: req.pageToken,
      role: Role.Clinician,
      status: 'active',
    });
    return {
      users: page.users.map((u) =>
        identity.User.fromPartial({
          name: `users/${u.userId}`,
          displayName: u.displayName,
          role: ROLE_TO_PROTO[u.role],
        }),
      ),
      nextPageToken: page.nextPageToken,
    };
  }
  const page = await users.listUsers({
    pageSize: req.pageSize,
    pageToken: req.pageToken,
    ...(role ? { role } : {}),
    ...(status ? { status } : {}),
  });
  return { users: page.users.map(toProtoUser), nextPageToken: page.nextPageToken };
}

/** ActivateUser: with an invitation token, activation (public); without one, an admin's reactivation. */
async function activateUser(
  users: UserService,
  access: IdentityGrpcAccess,
  req: identity.ActivateUserRequest,
  ctx: CallContext,
): Promise<identity.ActivateUserResponse> {
  if (req.invitationToken) {
    if (req.name && !req.invitationToken.startsWith(`${userIdOf(req.name)}.`))
      throw new UnauthenticatedError('invalid invite token');
    const view = await users.activateUser(
      { actor: { kind: 'anonymous', id: 'anonymous' }, correlationId: ctx.correlationId },
      { invitationToken: req.invitationToken, password: req.password },
    );
    return { user: toProtoUser(view) };
  }
  // Reactivation: an admin's token is required even though the method is public.
  const auth = ctx.metadata.get('authorization')[0];
  const m = typeof auth === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(auth) : null;
  if (!m?.[1])
    throw new UnauthenticatedError('reactivation needs an admin token; activation needs invitation_token');
  const principal = await access.verifier.verify(m[1]);
  const { cmd } = await access.admin({ ...ctx, principal });
  return { user: toProtoUser(await users.reactivateUser(cmd, userIdOf(req.name))) };
}
