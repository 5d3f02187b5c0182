/**
 * Idle logoff, token side, over the real services (identity with HAVEN_IDLE_TIMEOUT_SEC=3, scheduling and session
 * as built child processes on a real nats-server and Janus): a clinician signs in, opens their visit with GetVisit,
 * then does nothing — no refresh, no call. Identity must end the idle session by itself and publish the
 * revocation, so the session service refuses the very same access token (still unexpired: it lives 5 minutes)
 * within a few seconds of the timeout, and the session's stream says why (`SessionEnded` with reason `idle`).
 * Before: the token kept working on GetVisit until a refresh was attempted.
 */
import * as grpc from '@grpc/grpc-js';
import { JSONCodec } from 'nats';
import { identity, session } from '@haven/proto';
import { callUnary, clientCallMetadata, REVOCATIONS_STREAM } from '@haven/service';
import { eventually } from '@haven/testing';
import { SERVICE_STACK_PASSWORD, startServiceStack, type ServiceStack } from '../support/service-stack';

jest.setTimeout(180_000);

const IDLE_SEC = 3;
/** How long after the idle timeout the token may still work ("within seconds"). */
const GRACE_MS = 4000;
let stack: ServiceStack;

beforeAll(async () => {
  stack = await startServiceStack({
    services: ['scheduling', 'session'],
    identityEnv: { HAVEN_IDLE_TIMEOUT_SEC: String(IDLE_SEC) },
  });
});
afterAll(async () => {
  await stack?.stop();
});

describe('idle logoff ends the session at identity and every service refuses its token', () => {
  it('refuses GetVisit with the old access token within seconds of the idle timeout, and SessionEnded says idle', async () => {
    const identityClient = stack.connect(identity.IdentityServiceClient);
    const sessionClient = stack.connect(session.SessionServiceClient);
    try {
      const login = () =>
        callUnary(
          identityClient,
          'login',
          identity.LoginRequest.fromPartial({
            username: 'clinician@stack.test',
            password: SERVICE_STACK_PASSWORD,
          }),
        );
      // The clinician's own visit (the stack booked one with them), found with sign-ins of their own: on a loaded
      // machine the session service may list it only after longer than the idle timeout, and each of these
      // sessions is left to idle out on its own.
      const visitName = await eventually(
        'the stack’s visit listed for its clinician',
        async () => {
          const finder = (await login()).tokens!.accessToken;
          const page = await callUnary(
            sessionClient,
            'listVisits',
            session.ListVisitsRequest.fromPartial({}),
            clientCallMetadata({ token: finder }),
          );
          return page.visits[0]?.name;
        },
        { intervalMs: 500 },
      );
      expect(visitName).toMatch(/^visits\//);
      // The session under test: signed in, opens the visit at once while the token is fresh.
      const signedIn = await login();
      const startedAt = Date.now();
      const token = signedIn.tokens!.accessToken;
      const sid = signedIn.tokens!.refreshToken.split('.')[0]!;
      const md = () => clientCallMetadata({ token });
      const getVisit = () =>
        callUnary(
          sessionClient,
          'getVisit',
          session.GetVisitRequest.fromPartial({ name: visitName }),
          md(),
        ).then(
          () => grpc.status.OK,
          (e: grpc.ServiceError) => e.code,
        );
      expect(await getVisit()).toBe(grpc.status.OK);

      // Nothing happens; poll (bounded) until the session service refuses the token.
      let refusedAt: number | undefined;
      while (Date.now() - startedAt < IDLE_SEC * 1000 + GRACE_MS + 2000) {
        const code = await getVisit();
        if (code === grpc.status.UNAUTHENTICATED) {
          refusedAt = Date.now();
          break;
        }
        expect(grpc.status[code]).toBe('OK');
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(refusedAt).toBeDefined();
      const afterIdleMs = refusedAt! - startedAt - IDLE_SEC * 1000;
      expect(afterIdleMs).toBeGreaterThanOrEqual(-300);
      expect(afterIdleMs).toBeLessThanOrEqual(GRACE_MS);
      console.log(`idle logoff: token refused ${afterIdleMs} ms after the idle timeout`);

      const ended = (await stack.events()).filter((e) => e.stream === `identity.session-${sid}`);
      expect(ended.map((e) => [e.type.replace('haven.identity.v1.', ''), e.data['reason']])).toEqual([
        ['SessionStarted', undefined],
        ['SessionEnded', 'idle'],
        ['SessionRevoked', 'idle'],
      ]);
      // The revocation every verifier (and the session service's Janus teardown) reads, with its reason.
      const nc = await stack.nats.connect();
      try {
        const jsm = await nc.jetstreamManager();
        const last = (await jsm.streams.info(REVOCATIONS_STREAM)).state.last_seq;
        const published: Array<Record<string, unknown>> = [];
        for (let seq = 1; seq <= last; seq++) {
          const m = await jsm.streams.getMessage(REVOCATIONS_STREAM, { seq }).catch(() => undefined);
          if (m) published.push(JSONCodec<Record<string, unknown>>().decode(m.data));
        }
        expect(published).toContainEqual(expect.objectContaining({ sid, reason: 'idle' }));
      } finally {
        await nc.close();
      }
      // And the refresh token is dead too.
      await expect(
        callUnary(
          identityClient,
          'refreshToken',
          identity.RefreshTokenRequest.fromPartial({ refreshToken: signedIn.tokens!.refreshToken }),
        ),
      ).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    } finally {
      identityClient.close();
      sessionClient.close();
    }
  });
});
