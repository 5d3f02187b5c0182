/**
 * The visit chat through the gateway's live channel, against the real services (identity, scheduling, session on
 * a real nats-server and Janus), driven with raw WebSockets: the clinician and the admitted patient chat and each
 * gets the other's messages pushed; a later page gets the history; markup comes back as the same plain text;
 * the text is stored only sealed (never in event data, subjects or the gateway's logs) and every read is a
 * PhiAccessed. Attacks: another clinician and the patient's second, un-admitted device are refused (recorded as
 * AccessRefused), an oversized message is refused (and a frame over the socket limit closes the socket), and a
 * burst over the rate limit is cut off with a retry delay.
 */
import type { NatsConnection } from 'nats';
import { eventually, readEventLog } from '@haven/testing';
import type { CookieJar, LiveSocket } from '../test/gateway';
import { admitPatient, bookVisitWithLink, redeemLink } from '../test/gateway';
import { startClinic } from '../test/stack';
import type { TestStack } from '../test/stack';

jest.setTimeout(120_000);

let stack: TestStack;
let nc: NatsConnection;
let clinician: string;

beforeAll(async () => {
  ({ stack, nc, clinician } = await startClinic('chat.test'));
});
afterAll(async () => {
  await nc?.close();
  await stack?.stop();
});

interface ChatMessage {
  id: string;
  visitId: string;
  sender: string;
  senderRole: string;
  text: string;
  at: string;
}

const CANARY = 'canary-zebra-4471';
const MARKUP = `<script>alert('x')</script><img src=x onerror=alert(1)> see https://example.invalid/${CANARY}`;

function chatTexts(socket: LiveSocket): string[] {
  return socket.messages
    .filter((m) => m['type'] === 'chat')
    .flatMap((m) => (m['messages'] as ChatMessage[]).map((c) => c.text));
}

const send = (socket: LiveSocket, visitId: string, text: string, ref: string) =>
  socket.ws.send(JSON.stringify({ type: 'chat-send', visitId, text, ref }));
const answerTo = (socket: LiveSocket, ref: string) =>
  socket.waitFor((m) => (m['type'] === 'chat-sent' || m['type'] === 'chat-error') && m['ref'] === ref);

describe('the visit chat on the live channel', () => {
  let cara: CookieJar;
  let visitId: string;
  let patient: CookieJar;
  let secondDevice: CookieJar;
  let staff: LiveSocket;
  let pat: LiveSocket;

  beforeAll(async () => {
    const desk = await stack.signIn('desk@chat.test');
    cara = await stack.signIn('cara@chat.test');
    const visit = await bookVisitWithLink(stack.url, desk, clinician, {
      name: 'Maria Lopez',
      dateOfBirth: '1979-04-05',
    });
    visitId = visit.visitId;
    patient = await redeemLink(stack.url, visit);
    secondDevice = await redeemLink(stack.url, visit);
    pat = await stack.liveSocket(patient, true);
    staff = await stack.liveSocket(cara, false);
    for (const jar of [patient, secondDevice]) {
      expect((await jar.post(`${stack.url}/api/patient/lobby`, {})).status).toBe(200);
    }
    await admitPatient(stack.url, cara, visitId);
    await pat.waitFor((m) => m['type'] === 'admitted');
  });

  it('pushes each member’s message to the other, markup as the same plain text', async () => {
    staff.ws.send(JSON.stringify({ type: 'chat-open', visitId }));
    pat.ws.send(JSON.stringify({ type: 'chat-open' }));
    await staff.waitFor((m) => m['type'] === 'chat' && m['visitId'] === visitId);
    await pat.waitFor((m) => m['type'] === 'chat');

    send(staff, visitId, MARKUP, 'c1');
    const sent = await answerTo(staff, 'c1');
    expect(sent).toMatchObject({
      type: 'chat-sent',
      message: { senderRole: 'clinician', text: MARKUP, mine: true },
    });
    await eventually('the clinician’s message on the patient’s page', () =>
      chatTexts(pat).includes(MARKUP) ? true : undefined,
    );
    // "mine" is per reader: the patient's page did not post it, the clinician's own history did.
    const onPatientPage = pat.messages
      .filter((m) => m['type'] === 'chat')
      .flatMap((m) => m['messages'] as (ChatMessage & { mine: boolean })[])
      .find((c) => c.text === MARKUP);
    expect(onPatientPage?.mine).toBe(false);

    send(pat, visitId, `Thank you, doctor ${CANARY}`, 'p1');
    expect(await answerTo(pat, 'p1')).toMatchObject({
      type: 'chat-sent',
      message: { senderRole: 'patient' },
    });
    await eventually('the patient’s message on the clinician’s page', () =>
      chatTexts(staff).includes(`Thank you, doctor ${CANARY}`) ? true : undefined,
    );
    // Each page got each message once.
    expect(chatTexts(staff).filter((t) => t === MARKUP)).toHaveLength(1);
    expect(chatTexts(pat).filter((t) => t === MARKUP)).toHaveLength(1);
  });

  it('gives a page that opens the chat later the history, oldest first', async () => {
    const later = await stack.liveSocket(cara, false);
    later.ws.send(JSON.stringify({ type: 'chat-open', visitId }));
    const history = await later.waitFor((m) => m['type'] === 'chat');
    expect((history['messages'] as ChatMessage[]).map((m) => m.text)).toEqual([
      MARKUP,
      `Thank you, doctor ${CANARY}`,
    ]);
  });

  it('refuses another clinician and the patient’s un-admitted device, and records the refusals', async () => {
    const bo = await stack.liveSocket(await stack.signIn('bo@chat.test'), false);
    bo.ws.send(JSON.stringify({ type: 'chat-open', visitId }));
    expect(await bo.waitFor((m) => m['type'] === 'chat-error')).toMatchObject({ code: 'forbidden' });
    send(bo, visitId, 'let me in', 'b1');
    expect(await answerTo(bo, 'b1')).toMatchObject({ type: 'chat-error', code: 'forbidden' });

    const waiting = await stack.liveSocket(secondDevice, true);
    send(waiting, visitId, 'me too', 'w1');
    expect(await answerTo(waiting, 'w1')).toMatchObject({ type: 'chat-error', code: 'forbidden' });
    expect(chatTexts(bo)).toEqual([]);
    expect(chatTexts(waiting)).toEqual([]);

    const refusals = await eventually('the AccessRefused events of the chat', async () => {
      const found = (await readEventLog(nc, { filter: 'haven.es.>' })).filter(
        (e) =>
          e.type === 'haven.security.v1.AccessRefused' &&
          /^\/haven\.session\.v1\.SessionService\/(Send|List)ChatMessages?$/.test(String(e.data['method'])),
      );
      return found.length >= 3 ? found : undefined;
    });
    expect(refusals.map((e) => e.data['method'])).toEqual(
      expect.arrayContaining([
        '/haven.session.v1.SessionService/SendChatMessage',
        '/haven.session.v1.SessionService/ListChatMessages',
      ]),
    );
  });

  it('refuses an oversized message with what to fix, and closes a socket sent a frame over its limit', async () => {
    send(staff, visitId, 'x'.repeat(2001), 'big');
    const answer = await answerTo(staff, 'big');
    expect(answer).toMatchObject({ type: 'chat-error', code: 'invalid' });
    expect(String(answer['reason'])).toMatch(/at most 2000/);

    const flooded = await stack.liveSocket(cara, false);
    const closed = new Promise<number>((resolve) => flooded.ws.once('close', (code) => resolve(code)));
    send(flooded, visitId, 'y'.repeat(20_000), 'huge');
    expect(await closed).toBe(1009);
  });

  it('cuts a burst over the rate limit off with a retry delay', async () => {
    // One after the other (each answered before the next), so a slow machine does not turn the burst into
    // deadline errors; 8 per 10 s are allowed, so the 9th at the latest is refused.
    const answers: Record<string, unknown>[] = [];
    for (let i = 0; i < 9; i++) {
      send(pat, visitId, `burst ${i}`, `r${i}`);
      const answer = await answerTo(pat, `r${i}`);
      answers.push(answer);
      if (answer['type'] === 'chat-error') break;
    }
    const refused = answers.at(-1) ?? {};
    expect(refused).toMatchObject({ type: 'chat-error', code: 'rate-limited' });
    expect(Number(refused['retryAfterMs'])).toBeGreaterThan(0);
    expect(answers.slice(0, -1).every((a) => a['type'] === 'chat-sent')).toBe(true);
  });

  it('stores the text only sealed with the patient’s key, and records every read as PhiAccessed', async () => {
    const log = await readEventLog(nc, { filter: 'haven.es.>' });
    const posted = log.filter((e) => e.type === 'haven.session.v1.ChatMessagePosted');
    expect(posted.length).toBeGreaterThanOrEqual(2);
    for (const e of posted) {
      expect(e.phi?.subject).toBeTruthy();
      expect(JSON.stringify(e.data)).not.toContain(CANARY);
    }
    // Nowhere in plain fields or subjects of any event, nor in the gateway's log.
    expect(JSON.stringify(log.map((e) => ({ ...e, phi: undefined })))).not.toContain(CANARY);
    expect(log.some((e) => e.subject.includes(CANARY))).toBe(false);
    expect(stack.logs.join('\n')).not.toContain(CANARY);

    const reads = log.filter(
      (e) => e.type === 'haven.events.v1.PhiAccessed' && e.stream === `session.chat_access-${visitId}`,
    );
    expect(new Set(reads.map((e) => e.actor.kind))).toEqual(new Set(['user', 'patient']));
    expect(reads.every((e) => e.data['what'] === `visits/${visitId}/messages`)).toBe(true);
  });
});
