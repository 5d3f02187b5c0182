/**
 * Test support: the identity suites' users, invited and activated through the application layer (unit and
 * integration tests).
 */
import type { CommandContext } from '../shared/streams';
import type { UserService } from '../user/user-service';

/** The password the identity suites give their users. */
export const TEST_PASSWORD = 'Haven-Demo-2026!';

/** What an active test user is made of; the e-mail is the username. */
export interface TestUser {
  readonly username: string;
  readonly role: string;
  readonly displayName: string;
}

/**
 * Invites `user` as `invitedBy` and activates the account with TEST_PASSWORD as the anonymous invitee does
 * (correlation id `activatedAs`); resolves with the user id. Throws what InviteUser or ActivateUser throws.
 */
export async function activeTestUser(
  users: UserService,
  user: TestUser,
  invitedBy: CommandContext,
  activatedAs = 'c',
): Promise<string> {
  const invited = await users.inviteUser(invitedBy, { ...user, email: user.username });
  await users.activateUser(
    { actor: { kind: 'anonymous', id: 'anonymous' }, correlationId: activatedAs },
    { invitationToken: invited.invitationToken, password: TEST_PASSWORD },
  );
  return invited.user.userId;
}
