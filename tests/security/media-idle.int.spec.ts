/**
 * Idle logoff ends the media too. Real nats-server, Janus, identity with a 4-second idle timeout
 * (HAVEN_IDLE_TIMEOUT_SEC=4, as identity's own idle tests do), scheduling and the session service as built
 * processes. A clinician joins the media room over a raw websocket with what JoinMedia handed out and publishes;
 * then nothing refreshes their sign-in. Identity ends the session as idle by itself and pushes the revocation;
 * the clinician's media connection is closed (4401, idle) within 2 s of the deadline and its sweep, and Janus no
 * longer has their session or their feed.
 */
import * as grpc from '@grpc/grpc-js';
import { identity } from '@haven/proto';
import { callUnary, clientCallMetadata } from '@haven/service';
import { startStack, type Stack } from '../e2e/support/stack';
import { eventually, janusSessions, joinExtras, MediaClient, mediaDoor, tokenOf } from '@haven/testing';
import { admittedVisit, mediaFor, PrivilegedRoom } from './support/visit-setup';

jest.setTimeout(90_000);

let stack: Stack;
const closers: Array<() => void> = [];

beforeAll(async () => {
  stack = await startStack({
    netns: false,
    gateway: false,
    audit: false,
    identityEnv: { HAVEN_IDLE_TIMEOUT_SEC: '4' },
  });
}, 90_000);

afterAll(async () => {
  for (const close of closers) close();
  await stack?.stop();
});

it('idle logoff closes the clinician’s media connection and removes their Janus session and feed', async () => {
  const v = await admittedVisit(stack);
  const clinician = await stack.login('clinician');
  const m = await mediaFor(stack, v.visit, clinician.token);
  const url = stack.sessionHttpUrls[0]!;
  const c = await MediaClient.open(
    mediaDoor(m.serverUrl, { via: 'session', sessionHttpUrl: url, bearer: clinician.token }),
    tokenOf(m),
  );
  closers.push(() => c.close());
  expect((await c.create()).janus).toBe('success');
  const { handleId } = await c.attach();
  const joined = await c.message(handleId!, { request: 'join', ptype: 'publisher', ...joinExtras(m) });
  expect(joined.data['videoroom']).toBe('joined');
  const room = await PrivilegedRoom.open(stack, v.visitId);
  closers.push(() => room.close());
  const mine = async () =>
    (await room.participants()).filter(
      (p) => p.display === v.clinicianPid || (p.display ?? '').startsWith(`${v.clinicianPid}.`),
    );
  await eventually('the clinician’s feed in the room', async () =>
    (await mine()).length > 0 ? true : undefined,
  );

  // Nothing refreshes this sign-in: 4 s idle, identity's sweep (every second at this timeout), then 2 s.
  const closed = await c.closedWithin(4000 + 1000 + 2000);
  expect(closed).toEqual({ code: 4401, reason: 'idle' });
  const refreshed = await callUnary(
    stack.clients.identity,
    'refreshToken',
    identity.RefreshTokenRequest.fromPartial({ refreshToken: clinician.refreshToken }),
    clientCallMetadata({}),
  ).then(
    () => 'refreshed',
    (err: grpc.ServiceError) => grpc.status[err.code],
  );
  expect(refreshed).toBe('UNAUTHENTICATED');
  expect(await janusSessions(stack.janus.adminWsUrl, stack.janus.adminSecret)).not.toContain(c.sessionId);
  expect(await mine()).toEqual([]);
});
