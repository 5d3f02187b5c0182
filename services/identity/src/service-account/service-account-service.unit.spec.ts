import { UnauthenticatedError } from '@haven/errors';
import { RequestIdReusedError } from '@haven/service';
import { ADMIN as admin, requestKeyOf as keyOf, testDeps, type TestDeps } from '../testing/deps';
import { ServiceAccountService } from './service-account-service';

let t: TestDeps;
let service: ServiceAccountService;
beforeEach(async () => {
  t = await testDeps({ now: () => Date.parse('2026-01-05T09:00:00Z') });
  service = new ServiceAccountService(t.deps);
});
afterEach(() => t.close());
const types = async (stream: string) =>
  (await t.store.read(stream)).map((e) => e.type.replace('haven.identity.v1.', ''));

describe('service accounts with idempotency keys', () => {
  it('creates one service account for a retried creation; the retry gets a new secret, the first stops working', async () => {
    const requestKey = keyOf('/haven.identity.v1.IdentityService/CreateServiceAccount');
    const input = { displayName: 'EHR', scopes: ['scheduling.appointments.write'], requestKey };
    const first = await service.createServiceAccount(admin, input);
    const retry = await service.createServiceAccount(admin, input);
    expect(retry.account.serviceAccountId).toBe(first.account.serviceAccountId);
    expect(retry.clientSecret).not.toBe(first.clientSecret);
    expect(await types(`identity.service_account-${first.account.serviceAccountId}`)).toEqual([
      'ServiceAccountCreated',
    ]);
    const token = (clientSecret: string) =>
      service.issueServiceAccountToken({
        clientId: first.account.serviceAccountId,
        clientSecret,
        scopes: [],
        clientIp: '10.0.0.9',
        correlationId: 'c9',
      });
    await expect(token(first.clientSecret)).rejects.toBeInstanceOf(UnauthenticatedError);
    await expect(token(retry.clientSecret)).resolves.toMatchObject({
      scopes: ['scheduling.appointments.write'],
    });
    await expect(
      service.createServiceAccount(admin, { ...input, displayName: 'Another EHR' }),
    ).rejects.toBeInstanceOf(RequestIdReusedError);
  });
});
