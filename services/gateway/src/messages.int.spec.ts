/**
 * Secure messages outside visits through the gateway, against the real services (identity, scheduling, session,
 * audit on a real nats-server) and a real local SMTP server: the patient writes to their clinician from their
 * visit link, the clinician reads it (PhiAccessed first), marks it read and answers; the patient gets a notice
 * mail with the clinic's name and the link only (no text, no PHI canary), signs in to their messages with the
 * link and passcode (a cookie that opens no visit) and sees the receipt and the answer. Attacks: another
 * clinician and the front desk on a care thread are refused by scheduling (AccessRefused events), an admin at
 * the gateway's door.
 */
import type { NatsConnection } from 'nats';
import { WebSocket } from 'ws';
import { catcherSmtpEnv, eventually, readEventLog, startMailCatcher, type MailCatcher } from '@haven/testing';
import { CookieJar, bookVisitWithLink, redeemLink, type LiveSocket } from '../test/gateway';
import { startClinic } from '../test/stack';
import type { TestStack } from '../test/stack';

jest.setTimeout(180_000);

let stack: TestStack;
let nc: NatsConnection;
let catcher: MailCatcher;
let clinician: string;
let bo: string;
/** The messages link of the notice mail, the passcode it takes, and another patient's thread. */
let noticeToken = '';
let noticePasscode = '';
let otherPatientsThread = '';
let ottoId = '';
const CANARY = 'canary-heron-5531';
const NAME = 'Ottoline Brackenfield';
const DOB = '1983-07-19';

beforeAll(async () => {
  catcher = await startMailCatcher();
  ({
    stack,
    nc,
    clinician,
    otherClinician: bo,
  } = await startClinic('msg.test', {
    schedulingEnv: {
      HAVEN_CLINIC_NAME: 'Lakeside Family Practice',
      ...catcherSmtpEnv(catcher, 'Lakeside <no-reply@lakeside.test>'),
      HAVEN_REMINDER_POLL_MS: '100',
      HAVEN_REMINDER_OFFSETS: '',
    },
  }));
  await stack.createUser('ada@msg.test', 'admin', 'Ada Admin');
});
afterAll(async () => {
  await nc?.close();
  await stack?.stop();
  await catcher?.close();
});

const api = (path: string) => `${stack.url}/api${path}`;

interface ThreadJson {
  id: string;
  unreadCount: number;
  topic: string;
}
interface MessageJson {
  text: string;
  fromPatient: boolean;
  read: boolean;
}

describe('a follow-up message after the visit', () => {
  let cara: CookieJar;
  let threadId: string;
  let link: { token: string; passcode: string };

  beforeAll(async () => {
    const desk = await stack.signIn('desk@msg.test');
    cara = await stack.signIn('cara@msg.test');
    const created = await desk.post(api('/patients'), {
      name: NAME,
      dateOfBirth: DOB,
      email: 'otto@patient.test',
    });
    const patientId = ((await created.json()) as { patient: { id: string } }).patient.id;
    ottoId = patientId;
    const booked = await desk.post(api('/appointments'), {
      clinicianId: clinician,
      patientId,
      startTime: new Date(Date.now() + 2 * 60_000).toISOString(),
      endTime: new Date(Date.now() + 32 * 60_000).toISOString(),
    });
    const visitId = ((await booked.json()) as { appointment: { name: string } }).appointment.name.split(
      '/',
    )[1];
    const issued = await desk.post(api(`/appointments/${visitId}/link`), {});
    const body = (await issued.json()) as { url: string; passcode: string };
    link = { token: body.url.split('#')[1] ?? '', passcode: body.passcode };
  });

  it('lets the patient write to their clinician from the visit link, stored only sealed', async () => {
    const patient = await redeemLink(stack.url, link);
    const opened = await patient.post(api('/patient/messages/threads'), { topic: 'care' });
    expect(opened.status).toBe(201);
    const thread = ((await opened.json()) as { thread: ThreadJson & { clinicianId: string } }).thread;
    expect(thread.clinicianId).toBe(clinician);
    threadId = thread.id;
    const text = `<script>alert(1)</script> the itch is back ${CANARY}`;
    const posted = await patient.post(api(`/patient/messages/threads/${threadId}/messages`), { text });
    expect(posted.status).toBe(201);

    const log = await readEventLog(nc, { filter: 'haven.es.>' });
    const stored = log.filter((e) => e.type === 'haven.scheduling.v1.SecureMessagePosted');
    expect(stored).toHaveLength(1);
    expect(stored[0]?.phi?.subject).toBeTruthy();
    expect(JSON.stringify(log.map((e) => ({ ...e, phi: undefined })))).not.toContain(CANARY);
    expect(stack.logs.join('\n')).not.toContain(CANARY);
  });

  it('shows the clinician one unread, reads it after PhiAccessed, and keeps the receipt', async () => {
    const list = await cara.fetch(api('/messages/threads'));
    const threads = ((await list.json()) as { threads: ThreadJson[] }).threads;
    expect(threads.find((t) => t.id === threadId)).toMatchObject({ unreadCount: 1, topic: 'care' });
    const read = await cara.fetch(api(`/messages/threads/${threadId}`));
    expect(read.status).toBe(200);
    const { messages } = (await read.json()) as { messages: MessageJson[] };
    expect(messages.map((m) => m.text)).toEqual([`<script>alert(1)</script> the itch is back ${CANARY}`]);
    const access = (await readEventLog(nc, { filter: 'haven.es.>' })).filter(
      (e) =>
        e.type === 'haven.events.v1.PhiAccessed' && e.data['what'] === `messageThreads/${threadId}/messages`,
    );
    expect(access.map((e) => e.data['why'])).toEqual(['PHI_ACCESS_PURPOSE_TREATMENT_COMMUNICATION']);
    expect((await cara.post(api(`/messages/threads/${threadId}/read`), {})).status).toBe(200);
    const answer = await cara.post(api(`/messages/threads/${threadId}/messages`), {
      text: 'Use the cream twice a day and write again on Friday.',
    });
    expect(answer.status).toBe(201);
  });

  it('mails the patient only the clinic’s name and the link, once', async () => {
    const notices = () =>
      catcher.messages().filter((m) => m.to.includes('otto@patient.test') && /new message/.test(m.subject));
    await eventually('the notice', () => notices().length === 1);
    const [mail] = notices();
    expect(mail?.subject).toBe('You have a new message from Lakeside Family Practice');
    // Its own messages link, not the visit's.
    noticeToken = /\/messages#([A-Za-z0-9_-]{43})/.exec(mail?.text ?? '')?.[1] ?? '';
    expect(noticeToken).not.toBe('');
    expect(mail?.raw).not.toContain(link.token);
    noticePasscode = link.passcode;
    for (const canary of [CANARY, 'cream', 'Ottoline', 'Brackenfield', DOB, 'Cara']) {
      expect(mail?.raw).not.toContain(canary);
    }
  });

  it('signs the patient in to their messages with the link and passcode, opening no visit', async () => {
    const patient = new CookieJar();
    await patient.fetch(`${stack.url}/join`);
    const joined = await patient.post(api('/messages/join'), link);
    expect(joined.status).toBe(200);
    const list = await patient.fetch(api('/patient/messages/threads'));
    const threads = ((await list.json()) as { threads: ThreadJson[] }).threads;
    expect(threads).toEqual([expect.objectContaining({ id: threadId, unreadCount: 1 })]);
    const read = await patient.fetch(api(`/patient/messages/threads/${threadId}`));
    const { messages } = (await read.json()) as { messages: MessageJson[] };
    expect(messages.map((m) => [m.fromPatient, m.read])).toEqual([
      [true, true],
      [false, false],
    ]);
    // The messages cookie is no visit's: the visit routes refuse it.
    expect((await patient.fetch(api('/patient/visit'))).status).toBe(403);
    // A wrong passcode is refused like at the join page.
    const wrong = await patient.post(api('/messages/join'), {
      token: link.token,
      passcode: '000000x',
    });
    expect(wrong.status).toBe(401);
  });

  it('refuses another clinician, the front desk and an admin, recorded as AccessRefused', async () => {
    for (const user of ['bo@msg.test', 'desk@msg.test', 'ada@msg.test']) {
      const jar = await stack.signIn(user);
      expect((await jar.fetch(api(`/messages/threads/${threadId}`))).status).toBe(403);
      const post = await jar.post(api(`/messages/threads/${threadId}/messages`), { text: 'hello' });
      expect(post.status).toBe(403);
    }
    // Scheduling records its own refusals (the admin is refused at the gateway's door, before any call).
    await eventually('the refusals', async () => {
      const refused = (await readEventLog(nc, { filter: 'haven.es.>' })).filter(
        (e) =>
          e.type === 'haven.security.v1.AccessRefused' &&
          e.data['target'] === `messageThreads/${threadId}` &&
          e.data['code'] === 'PERMISSION',
      );
      const roles = refused.map((e) => e.data['role']);
      return (
        roles.filter((r) => r === 'clinician').length === 2 &&
        roles.filter((r) => r === 'front_desk').length === 2
      );
    });
  });
});

describe('live push of secure messages (raw websockets)', () => {
  const pushes = (s: LiveSocket, threadId: string) =>
    s.messages.filter((m) => m['type'] === 'messages' && m['threadId'] === threadId);
  let threadId: string;
  let patientLive: LiveSocket;
  let deeLive: LiveSocket;
  let outsiders: LiveSocket[];
  let patient: CookieJar;
  let dee: CookieJar;

  beforeAll(async () => {
    const desk = await stack.signIn('desk@msg.test');
    // A clinician of their own (the first visit holds Dr Ng's slot); Dr Ek sees the other patient.
    const deeId = await stack.createUser('dee@msg.test', 'clinician', 'Dr Dee Oak');
    dee = await stack.signIn('dee@msg.test');
    const visit = await bookVisitWithLink(stack.url, desk, deeId, {
      name: 'Wilhelmina Pushcart',
      dateOfBirth: '1977-03-04',
    });
    const other = await bookVisitWithLink(stack.url, desk, bo, {
      name: 'Oswin Otherly',
      dateOfBirth: '1969-11-12',
    });
    patient = await redeemLink(stack.url, visit);
    const opened = await patient.post(api('/patient/messages/threads'), { topic: 'care' });
    threadId = ((await opened.json()) as { thread: ThreadJson }).thread.id;
    otherPatientsThread = threadId;
    // The patient signed in to their messages only (no visit) on a second device.
    const messagesOnly = new CookieJar();
    await messagesOnly.fetch(`${stack.url}/join`);
    expect((await messagesOnly.post(api('/messages/join'), visit)).status).toBe(200);
    patientLive = await stack.liveSocket(messagesOnly, true);
    deeLive = await stack.liveSocket(dee, false);
    outsiders = [
      await stack.liveSocket(await stack.signIn('cara@msg.test'), false),
      await stack.liveSocket(await stack.signIn('desk@msg.test'), false),
      await stack.liveSocket(await redeemLink(stack.url, other), true),
    ];
  });

  it('refuses an anonymous socket before it can hear anything', async () => {
    // A browser that opened a page (it has the CSRF cookie) but signed in to nothing.
    const anonymous = new CookieJar();
    await anonymous.fetch(`${stack.url}/join`);
    const csrf = encodeURIComponent(anonymous.cookies.get('haven_csrf') ?? '');
    const status = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`${stack.url.replace('http', 'ws')}/api/ws?csrf=${csrf}&as=patient`, {
        headers: { origin: stack.url, cookie: anonymous.header() },
      });
      ws.on('error', () => undefined);
      ws.on('unexpected-response', (_req, res) => {
        resolve(res.statusCode ?? 0);
        res.destroy();
      });
      ws.on('open', () => (resolve(101), ws.terminate()));
    });
    expect(status).toBe(401);
  });

  it('tells the clinician at once that the patient wrote, with counts and no text', async () => {
    const text = `my ankle again ${CANARY}`;
    expect((await patient.post(api(`/patient/messages/threads/${threadId}/messages`), { text })).status).toBe(
      201,
    );
    const push = await deeLive.waitFor(
      (m) => m['type'] === 'messages' && m['threadId'] === threadId && m['unreadCount'] === 1,
    );
    expect(push).toMatchObject({ messageCount: 1, open: true });
    expect((push as { events: string[] }).events).toContain('posted');
    expect(JSON.stringify(deeLive.messages)).not.toContain(CANARY);
  });

  it('tells the patient of the read receipt and of the answer, on a messages-only sign-in', async () => {
    expect((await dee.fetch(api(`/messages/threads/${threadId}`))).status).toBe(200);
    expect((await dee.post(api(`/messages/threads/${threadId}/read`), {})).status).toBe(200);
    await patientLive.waitFor(
      (m) =>
        m['type'] === 'messages' && m['threadId'] === threadId && (m['events'] as string[]).includes('read'),
    );
    const answer = 'Rest it and keep it raised.';
    expect((await dee.post(api(`/messages/threads/${threadId}/messages`), { text: answer })).status).toBe(
      201,
    );
    await patientLive.waitFor(
      (m) => m['type'] === 'messages' && m['threadId'] === threadId && m['messageCount'] === 2,
    );
    expect(pushes(patientLive, threadId).at(-1)).toMatchObject({ unreadCount: 1 });
    expect(JSON.stringify(patientLive.messages)).not.toContain('raised');
  });

  it('pushes nothing to another clinician, the front desk (care thread) or another patient', async () => {
    // Every push of this thread has reached the members by now; one more round for good measure.
    expect((await patient.post(api(`/patient/messages/threads/${threadId}/read`), {})).status).toBe(200);
    await deeLive.waitFor(
      (m) =>
        m['type'] === 'messages' && m['threadId'] === threadId && (m['events'] as string[]).includes('read'),
    );
    // Only this thread's pushes count: Dr Ng's own thread of the suite's first part may still be pushed to her
    // (a loaded machine relays its events late, after her socket here opened), and that is hers to hear.
    for (const s of outsiders) {
      expect(s.ws.readyState).toBe(WebSocket.OPEN);
      expect(pushes(s, threadId)).toEqual([]);
    }
  });
});

describe('the messages link of a notice', () => {
  it('signs in with the visit’s passcode to this patient’s threads only, and opens no visit', async () => {
    const patient = new CookieJar();
    await patient.fetch(`${stack.url}/join`);
    const joined = await patient.post(api('/messages/join'), {
      token: noticeToken,
      passcode: noticePasscode,
    });
    expect(joined.status).toBe(200);
    const list = await patient.fetch(api('/patient/messages/threads'));
    const threads = ((await list.json()) as { threads: ThreadJson[] }).threads;
    expect(threads.map((t) => t.topic)).toEqual(['care']);
    expect(threads.map((t) => t.id)).not.toContain(otherPatientsThread);
    expect((await patient.fetch(api(`/patient/messages/threads/${otherPatientsThread}`))).status).toBe(403);
    expect((await patient.fetch(api('/patient/visit'))).status).toBe(403);
    // The join page (a visit) does not know the messages link at all.
    const visitDoor = new CookieJar();
    await visitDoor.fetch(`${stack.url}/join`);
    const asVisit = await visitDoor.post(api('/join'), { token: noticeToken, passcode: noticePasscode });
    expect(asVisit.status).toBe(401);
  });
});

describe('the front desk starts a scheduling thread', () => {
  it('opens it with a patient, who sees the message at once on their messages page', async () => {
    const desk = await stack.signIn('desk@msg.test');
    const patient = new CookieJar();
    await patient.fetch(`${stack.url}/join`);
    expect(
      (await patient.post(api('/messages/join'), { token: noticeToken, passcode: noticePasscode })).status,
    ).toBe(200);
    const live = await stack.liveSocket(patient, true);
    const opened = await desk.post(api('/messages/threads'), { topic: 'scheduling', patientId: ottoId });
    expect(opened.status).toBe(201);
    const thread = ((await opened.json()) as { thread: ThreadJson & { clinicianId: string | null } }).thread;
    expect(thread).toMatchObject({ topic: 'scheduling', clinicianId: null });
    const text = 'Your follow-up can move to Tuesday at 10:00 if that suits you.';
    expect((await desk.post(api(`/messages/threads/${thread.id}/messages`), { text })).status).toBe(201);
    await live.waitFor(
      (m) => m['type'] === 'messages' && m['threadId'] === thread.id && m['unreadCount'] === 1,
    );
    const read = await patient.fetch(api(`/patient/messages/threads/${thread.id}`));
    const { messages } = (await read.json()) as { messages: MessageJson[] };
    expect(messages.map((m) => [m.fromPatient, m.text])).toEqual([[false, text]]);
    // A patient id that is not one is refused with the field named, before scheduling is asked.
    const bad = await desk.post(api('/messages/threads'), { topic: 'scheduling', patientId: '../x' });
    expect(bad.status).toBe(400);
    // So is a topic that is a name every object inherits.
    const inherited = await desk.post(api('/messages/threads'), { topic: 'toString', patientId: ottoId });
    expect(inherited.status).toBe(400);
    expect(JSON.stringify(await inherited.json())).toContain('topic');
  });
});
