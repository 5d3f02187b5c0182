import { SERVICE_ACCOUNT_DIRECTORY_STREAM } from '../service-account/service-account';
import { ServiceAccountService } from '../service-account/service-account-service';
import { ADMIN, testDeps, type TestDeps } from '../testing/deps';
import { UserService } from '../user/user-service';
import { userStream } from '../user/user';
import type { CommandContext } from './streams';
import { USER_DIRECTORY_STREAM, usernameStream } from './streams';

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const traced: CommandContext = { ...ADMIN, traceparent: TRACEPARENT };

let t: TestDeps;
beforeEach(async () => {
  t = await testDeps({ now: () => Date.parse('2026-01-05T09:00:00Z') });
});
afterEach(() => t.close());

/** Each event of `streams` as `<type> <traceparent>`. */
async function tracesOf(...streams: string[]): Promise<string[]> {
  const events = (await Promise.all(streams.map((s) => t.store.read(s)))).flat();
  return events.map((e) => `${e.type.replace('haven.identity.v1.', '')} ${e.traceparent ?? 'none'}`);
}

describe("identity's events carry the call's traceparent", () => {
  it('on an invitation: the username claim, the user and the directory entry', async () => {
    const { user } = await new UserService(t.deps).inviteUser(traced, {
      username: 'ada@clinic.example',
      email: 'ada@clinic.example',
      role: 'clinician',
      displayName: 'Ada',
    });
    expect(
      await tracesOf(usernameStream('ada@clinic.example'), userStream(user.userId), USER_DIRECTORY_STREAM),
    ).toEqual([`UsernameClaimed ${TRACEPARENT}`, `UserInvited ${TRACEPARENT}`, `UserListed ${TRACEPARENT}`]);
  });

  it('on a new service account: its directory entry', async () => {
    await new ServiceAccountService(t.deps).createServiceAccount(traced, {
      displayName: 'EHR',
      scopes: ['scheduling.appointments.write'],
    });
    expect(await tracesOf(SERVICE_ACCOUNT_DIRECTORY_STREAM)).toEqual([`ServiceAccountListed ${TRACEPARENT}`]);
  });
});
