/**
 * The idle timeout as a clinic setting, over the real services (identity, scheduling, session and audit as built,
 * on a real nats-server; the gateway in process, following the clinic's settings with its own NATS user): the
 * deployment's HAVEN_IDLE_TIMEOUT_SEC (900 s here) applies until an admin saves one; the admin's value is checked
 * (whole minutes, 1 to 60) and recorded as one ClinicSettingsChanged; the page is told the new value in /api/me;
 * and identity's sweeper ends a session that started under the old timeout once it has been idle past the new one,
 * counted from the change (SessionEnded and SessionRevoked with reason `idle`, published), without a restart. Before: the
 * timeout was the environment's only and the console showed it read-only.
 */
import type { JetStreamEventStore, PositionedEvent } from '@haven/eventstore';
import { eventually } from '@haven/testing';
import type { CookieJar } from '../test/gateway';
import { clinicSettingsChanges, startStack } from '../test/stack';
import type { TestStack } from '../test/stack';

jest.setTimeout(240_000);

/** The shortest idle timeout a clinic may save (1 minute): what the session must be idle for. */
const NEW_TIMEOUT_SEC = 60;
/** Identity sweeps every 5 s at most; the rest is slack for a loaded machine. */
const SWEEP_GRACE_MS = 12_000;

let stack: TestStack;
let store: JetStreamEventStore;
let admin: CookieJar;
let clinician: CookieJar;
let clinicianId: string;

beforeAll(async () => {
  stack = await startStack();
  store = await stack.openStore('idle-setting-test');
  await stack.createUser('root@idle.test', 'admin', 'Ada Admin');
  clinicianId = await stack.createUser('rhea@idle.test', 'clinician', 'Dr Rhea Stone');
  admin = await stack.signIn('root@idle.test');
});
afterAll(async () => stack?.stop());

const put = (jar: CookieJar, body: unknown) => jar.put(`${stack.url}/api/clinic-settings`, body);

const me = async (jar: CookieJar) => {
  const res = await jar.fetch(`${stack.url}/api/me`);
  return {
    status: res.status,
    body: res.status === 200 ? ((await res.json()) as { idleTimeoutSec: number }) : null,
  };
};

const changes = () => clinicSettingsChanges(store);

/** The clinician's newest session id (from LoginSucceeded on their user stream). */
async function newestSessionOf(userId: string): Promise<string> {
  const logins = (await store.read(`identity.user-${userId}`)).filter(
    (e) => e.type === 'haven.identity.v1.LoginSucceeded',
  );
  return String(logins.at(-1)?.data['sessionId']);
}

const typeAndReason = (e: PositionedEvent) => [e.type.replace('haven.identity.v1.', ''), e.data['reason']];

describe('the idle timeout as a clinic setting', () => {
  it('is the deployment’s until an admin saves one; only whole minutes from 1 to 60, by an admin', async () => {
    clinician = await stack.signIn('rhea@idle.test');
    expect(await me(clinician)).toMatchObject({ status: 200, body: { idleTimeoutSec: 900 } });
    const initial = (await (await admin.fetch(`${stack.url}/api/clinic-settings`)).json()) as Record<
      string,
      unknown
    >;
    expect(initial).toMatchObject({ idleTimeoutSec: null, fromDeployment: { idleTimeoutSec: 900 } });

    expect((await put(clinician, { idleTimeoutSec: 600 })).status).toBe(403);
    for (const bad of [30, 59, 3660, 90, 600.5, '600', null]) {
      const res = await put(admin, { idleTimeoutSec: bad });
      expect([bad, res.status]).toEqual([bad, 400]);
      expect(JSON.stringify(await res.json())).toMatch(
        /"field":"idleTimeoutSec","description":"must be whole minutes from 1 to 60/,
      );
    }
    expect(await changes()).toHaveLength(0);
  });

  it('shortened by an admin: the page is told, and a session idle past it is ended by identity', async () => {
    const sid = await newestSessionOf(clinicianId);
    const started = (await store.read(`identity.session-${sid}`)).find(
      (e) => e.type === 'haven.identity.v1.SessionStarted',
    );
    expect(started).toBeDefined();
    const startedAt = Date.parse(String(started?.data['at']));
    // Written under the deployment's 900 s.
    expect(Date.parse(String(started?.data['idleExpiresAt'])) - startedAt).toBe(900_000);

    const res = await put(admin, { idleTimeoutSec: NEW_TIMEOUT_SEC });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      idleTimeoutSec: NEW_TIMEOUT_SEC,
      fromDeployment: { idleTimeoutSec: 900 },
    });
    const saved = await changes();
    expect(saved.map((e) => e.data)).toEqual([{ idleTimeoutSeconds: NEW_TIMEOUT_SEC }]);
    // A session idle at the change gets the new timeout from the change (its page must learn it first).
    const changedAt = Date.parse(String(saved[0]?.occurredAt));

    // The page learns the new value from the gateway, which follows the event.
    await eventually(
      'the clinician’s /api/me says 60',
      async () => (await me(clinician)).body?.idleTimeoutSec === NEW_TIMEOUT_SEC || undefined,
      { timeoutMs: 10_000 },
    );

    // Nobody touches the session; identity must end it by itself at its last activity + 60 s.
    const stream = `identity.session-${sid}`;
    const ended = await eventually(
      'identity ends the idle session',
      async () => (await store.read(stream)).find((e) => e.type === 'haven.identity.v1.SessionRevoked'),
      { timeoutMs: changedAt + NEW_TIMEOUT_SEC * 1000 + SWEEP_GRACE_MS - Date.now() },
    );
    const events = await store.read(stream);
    expect(events.map(typeAndReason)).toEqual([
      ['SessionStarted', undefined],
      ['SessionEnded', 'idle'],
      ['SessionRevoked', 'idle'],
    ]);
    const endedAt = Date.parse(String(events[1]?.data['at']));
    expect(endedAt - changedAt).toBeGreaterThanOrEqual(NEW_TIMEOUT_SEC * 1000);
    expect(endedAt - changedAt).toBeLessThan(NEW_TIMEOUT_SEC * 1000 + SWEEP_GRACE_MS);
    expect(ended.data['reason']).toBe('idle');
    console.log(`idle setting: session ended ${endedAt - changedAt - NEW_TIMEOUT_SEC * 1000} ms after 60 s`);

    // The revocation reached the gateway: the clinician's cookie no longer signs anything.
    await eventually(
      'the gateway refuses the ended session',
      async () => ((await me(clinician)).status === 401 ? true : undefined),
      { timeoutMs: 5_000 },
    );
    // A new sign-in is told the clinic's timeout too.
    const again = await stack.signIn('rhea@idle.test');
    expect(await me(again)).toMatchObject({ status: 200, body: { idleTimeoutSec: NEW_TIMEOUT_SEC } });
    const newSid = await newestSessionOf(clinicianId);
    const restarted = (await store.read(`identity.session-${newSid}`))[0];
    expect(
      Date.parse(String(restarted?.data['idleExpiresAt'])) - Date.parse(String(restarted?.data['at'])),
    ).toBe(NEW_TIMEOUT_SEC * 1000);
  });
});
