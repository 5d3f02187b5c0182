/**
 * The admin console's routes through the gateway against the real services: staff users (list, invite with a
 * role, the invited person's activation, disable, enable, reset the second factor, the last admin kept), the usage
 * report (counts only) and the refusals of every other role.
 */
import { createTransport } from 'nodemailer';
import { startMailCatcher } from '@haven/testing';
import { CookieJar, signedIn } from '../test/gateway';
import { STACK_PASSWORD, startStack } from '../test/stack';
import type { TestStack } from '../test/stack';

jest.setTimeout(120_000);

interface UserJson {
  id: string;
  username: string;
  role: string;
  state: string;
  mfaEnrolled: boolean;
}

let stack: TestStack;
let admin: CookieJar;
let desk: CookieJar;
let clinician: CookieJar;
let adminId: string;
let clinicianId: string;

beforeAll(async () => {
  stack = await startStack();
  adminId = await stack.createUser('root@admin.test', 'admin', 'Ada Admin');
  await stack.createUser('desk@admin.test', 'front_desk', 'Front Desk');
  clinicianId = await stack.createUser('dee@admin.test', 'clinician', 'Dr Dee Park');
  admin = await stack.signIn('root@admin.test');
  desk = await stack.signIn('desk@admin.test');
  clinician = await stack.signIn('dee@admin.test');
});
afterAll(async () => stack?.stop());

async function users(): Promise<UserJson[]> {
  const res = await admin.fetch(`${stack.url}/api/users`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { users: UserJson[] }).users;
}

async function login(username: string, password: string): Promise<number> {
  const jar = new CookieJar();
  await jar.fetch(`${stack.url}/`);
  return (await jar.post(`${stack.url}/api/auth/login`, { username, password })).status;
}

describe('staff users through the gateway', () => {
  it('lists everyone with role and state, to admins only', async () => {
    const list = await users();
    expect(list.find((u) => u.id === adminId)).toMatchObject({ role: 'admin', state: 'active' });
    expect(list.find((u) => u.id === clinicianId)).toMatchObject({
      username: 'dee@admin.test',
      role: 'clinician',
    });
    for (const jar of [desk, clinician]) {
      expect((await jar.fetch(`${stack.url}/api/users`)).status).toBe(403);
      expect(
        (await jar.post(`${stack.url}/api/users`, { email: 'x@y.test', role: 'admin', displayName: 'X' }))
          .status,
      ).toBe(403);
      expect((await jar.post(`${stack.url}/api/users/${clinicianId}/disable`, {})).status).toBe(403);
    }
    expect((await new CookieJar().fetch(`${stack.url}/api/users`)).status).toBe(401);
  });

  it('invites with a role; the invitation activates once; disable, enable and reset the second factor', async () => {
    const bad = await admin.post(`${stack.url}/api/users`, { email: 'not-an-address', role: 'surgeon' });
    expect(bad.status).toBe(400);
    const fields = ((await bad.json()) as { error: { fieldViolations: { field: string }[] } }).error
      .fieldViolations;
    expect(fields.map((f) => f.field).sort()).toEqual(['displayName', 'email', 'role']);

    const invited = await admin.post(`${stack.url}/api/users`, {
      email: 'New.Nurse@Admin.test',
      displayName: 'Nia Nurse',
      role: 'front_desk',
    });
    expect(invited.status).toBe(201);
    const invitation = (await invited.json()) as {
      user: UserJson;
      invitationToken: string;
      activationPath: string;
    };
    expect(invitation.user).toMatchObject({
      username: 'new.nurse@admin.test',
      role: 'front_desk',
      state: 'invited',
    });
    expect(invitation.activationPath).toBe(`/#invitation=${encodeURIComponent(invitation.invitationToken)}`);
    const again = await admin.post(`${stack.url}/api/users`, {
      email: 'new.nurse@admin.test',
      displayName: 'Nia Nurse',
      role: 'front_desk',
    });
    expect(again.status).toBe(409);

    const stranger = new CookieJar();
    await stranger.fetch(`${stack.url}/`);
    const weak = await stranger.post(`${stack.url}/api/auth/activate`, {
      invitationToken: invitation.invitationToken,
      password: 'short',
    });
    expect(weak.status).toBe(400);
    const wrong = await stranger.post(`${stack.url}/api/auth/activate`, {
      invitationToken: `${invitation.invitationToken}x`,
      password: STACK_PASSWORD,
    });
    expect(wrong.status).toBe(401);
    const activated = await stranger.post(`${stack.url}/api/auth/activate`, {
      invitationToken: invitation.invitationToken,
      password: STACK_PASSWORD,
    });
    expect(activated.status).toBe(200);
    expect(await activated.json()).toEqual({ username: 'new.nurse@admin.test' });
    const replay = await stranger.post(`${stack.url}/api/auth/activate`, {
      invitationToken: invitation.invitationToken,
      password: STACK_PASSWORD,
    });
    expect(replay.status).not.toBe(200);
    expect(await login('new.nurse@admin.test', STACK_PASSWORD)).toBe(200);

    const id = invitation.user.id;
    const disabled = await admin.post(`${stack.url}/api/users/${id}/disable`, {});
    expect(disabled.status).toBe(200);
    expect(await disabled.json()).toMatchObject({ user: { id, state: 'disabled' } });
    expect(await login('new.nurse@admin.test', STACK_PASSWORD)).toBe(401);
    const twice = await admin.post(`${stack.url}/api/users/${id}/disable`, {}); // idempotent
    expect(twice.status).toBe(200);
    expect(await twice.json()).toMatchObject({ user: { state: 'disabled' } });
    const enabled = await admin.post(`${stack.url}/api/users/${id}/enable`, {});
    expect(enabled.status).toBe(200);
    expect(await enabled.json()).toMatchObject({ user: { state: 'active' } });
    expect(await login('new.nurse@admin.test', STACK_PASSWORD)).toBe(200);
    const reset = await admin.post(`${stack.url}/api/users/${id}/reset-mfa`, {});
    expect(reset.status).toBe(200);
    expect(await reset.json()).toMatchObject({ user: { mfaEnrolled: false } });
    expect((await admin.post(`${stack.url}/api/users/no-such-user/reset-mfa`, {})).status).toBe(404);
  });

  it('keeps the last active admin', async () => {
    const res = await admin.post(`${stack.url}/api/users/${adminId}/disable`, {});
    expect(res.status).toBe(409);
    expect((await users()).find((u) => u.id === adminId)?.state).toBe('active');
  });
});

describe('the usage report through the gateway', () => {
  it('counts a day’s appointments per clinician, with no patient in the answer', async () => {
    const patient = await desk.post(`${stack.url}/api/patients`, {
      name: 'Canary Patientname',
      dateOfBirth: '1980-02-03',
    });
    const patientId = ((await patient.json()) as { patient: { id: string } }).patient.id;
    // Tomorrow 10:00 and 11:00 UTC: one UTC day whatever the time now.
    const start = new Date(`${new Date(Date.now() + 86_400_000).toISOString().slice(0, 10)}T10:00:00.000Z`);
    for (const offset of [0, 60]) {
      const s = new Date(start.getTime() + offset * 60_000);
      const booked = await desk.post(`${stack.url}/api/appointments`, {
        clinicianId,
        patientId,
        startTime: s.toISOString(),
        endTime: new Date(s.getTime() + 30 * 60_000).toISOString(),
      });
      expect(booked.status).toBe(201);
    }
    const day = start.toISOString().slice(0, 10);
    const res = await admin.fetch(`${stack.url}/api/usage?from=${day}&to=${day}&timeZone=UTC`);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({
      total: { appointments: 2, completed: 0, noShows: 0, cancelled: 0, completedMinutes: 0 },
      clinicians: [
        { clinicianId, appointments: 2, completed: 0, noShows: 0, cancelled: 0, completedMinutes: 0 },
      ],
    });
    expect(text).not.toContain('Canary');
    expect(text).not.toContain(patientId);

    const bad = await admin.fetch(`${stack.url}/api/usage?from=${day}&to=2001-01-01&timeZone=UTC`);
    expect(bad.status).toBe(400);
    expect(JSON.stringify(await bad.json())).toContain('"field":"to"');
    expect((await admin.fetch(`${stack.url}/api/usage?from=yesterday&to=${day}`)).status).toBe(400);
    expect((await desk.fetch(`${stack.url}/api/usage?from=${day}&to=${day}`)).status).toBe(403);
  });
});

describe('patient message templates through the gateway', () => {
  interface Set {
    templates: { kind: string; subject: string; body: string; sms: string }[];
    updateTime: string | null;
  }
  const GOOD = {
    subject: 'Your video visit at {{clinic_name}}',
    body: 'Hello, your visit with {{clinician_name}} is on {{start_time}}. {{join_link}}\n{{passcode_note}}\n{{opt_out}}',
    sms: '{{clinic_name}}: {{start_time}} {{join_link}} {{opt_out}}',
  };
  const put = (language: string, kind: string, texts: unknown) =>
    admin.fetch(`${stack.url}/api/message-templates/${language}/${kind}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', 'x-csrf-token': admin.cookies.get('haven_csrf') ?? '' },
      body: JSON.stringify(texts),
    });
  const get = async (language: string): Promise<Set> =>
    (await (await admin.fetch(`${stack.url}/api/message-templates/${language}`)).json()) as Set;
  const violations = async (res: Response) =>
    ((await res.json()) as { error: { fieldViolations: { field: string; description: string }[] } }).error
      .fieldViolations;

  it('previews with example values, and shows the linter’s refusal on the field', async () => {
    const ok = await admin.post(`${stack.url}/api/message-templates/preview`, {
      kind: 'invitation',
      ...GOOD,
    });
    expect(ok.status).toBe(200);
    const rendered = (await ok.json()) as { subject: string; body: string; sms: string };
    expect(rendered.body).toContain('Dr. Example');
    expect(JSON.stringify(rendered)).not.toContain('{{');

    const cases: [string, string][] = [
      ['{{constructor}}', 'template injection'],
      ['{{patient_name}}', 'names the field "patient_name"'],
      ['born 1975-09-30', 'looks like'],
      ['{{#each x}}{{/each}}', 'braces'],
    ];
    for (const [text, expected] of cases) {
      const res = await admin.post(`${stack.url}/api/message-templates/preview`, {
        kind: 'invitation',
        ...GOOD,
        body: `${GOOD.body} ${text}`,
      });
      expect(res.status).toBe(400);
      const found = await violations(res);
      expect(found.map((v) => v.field)).toContain('body');
      expect(found.map((v) => v.description).join(' ')).toContain(expected);
    }
    const noKind = await admin.post(`${stack.url}/api/message-templates/preview`, {
      kind: 'constructor',
      ...GOOD,
    });
    expect(noKind.status).toBe(400);
    expect(
      (await desk.post(`${stack.url}/api/message-templates/preview`, { kind: 'invitation', ...GOOD })).status,
    ).toBe(403);
  });

  it('saves one kind per language after the linter; a refused save keeps what was there', async () => {
    const builtIn = await get('en');
    expect(builtIn.updateTime).toBeNull();
    expect(builtIn.templates.map((t) => t.kind)).toEqual([
      'invitation',
      'rescheduled',
      'cancelled',
      'reminder',
      'passcode',
    ]);

    const refused = await put('en', 'invitation', { ...GOOD, sms: 'Call us about your diagnosis' });
    expect(refused.status).toBe(400);
    const problems = await violations(refused);
    expect(problems.map((v) => v.field).sort()).toEqual(['sms', 'sms']); // clinical wording; no {{opt_out}}
    expect(await get('en')).toEqual(builtIn);

    const saved = await put('en', 'invitation', GOOD);
    expect(saved.status).toBe(200);
    const after = await get('en');
    expect(after.updateTime).not.toBeNull();
    expect(after.templates.find((t) => t.kind === 'invitation')).toEqual({ kind: 'invitation', ...GOOD });
    expect(after.templates.filter((t) => t.kind !== 'invitation')).toEqual(
      builtIn.templates.filter((t) => t.kind !== 'invitation'),
    );

    expect((await put('de-CH', 'reminder', GOOD)).status).toBe(200);
    expect((await get('de-CH')).templates.map((t) => t.kind)).toEqual(['reminder']);
    expect((await put('en', 'constructor', GOOD)).status).toBe(404);
    expect((await put('EN!', 'invitation', GOOD)).status).toBe(404);
    expect((await desk.fetch(`${stack.url}/api/message-templates/en`)).status).toBe(403);
  });
});

describe('clinic settings through the gateway', () => {
  const put = (jar: CookieJar, body: unknown) =>
    jar.fetch(`${stack.url}/api/clinic-settings`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', 'x-csrf-token': jar.cookies.get('haven_csrf') ?? '' },
      body: JSON.stringify(body),
    });

  it('changes the clinic’s time zone (admins only); scheduling names times in it at once', async () => {
    const before = await clinician.fetch(`${stack.url}/api/clinic-settings`);
    expect(before.status).toBe(200);
    const initial = (await before.json()) as {
      updateTime: unknown;
      fromDeployment: { idleTimeoutSec: unknown };
    };
    expect(initial.updateTime).toBeNull();
    expect(typeof initial.fromDeployment.idleTimeoutSec).toBe('number');
    expect((await put(desk, { timeZone: 'Europe/Berlin' })).status).toBe(403);
    const bad = await put(admin, { timeZone: 'Mars/Olympus' });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(await bad.json())).toContain('"field":"timeZone"');

    const saved = await put(admin, { timeZone: 'Europe/Berlin' });
    if (saved.status !== 200) throw new Error(await saved.text());
    expect(saved.status).toBe(200);
    const after = (await saved.json()) as { timeZone: string; updateTime: unknown };
    expect(after.timeZone).toBe('Europe/Berlin');
    expect(typeof after.updateTime).toBe('string');
    expect(await (await desk.fetch(`${stack.url}/api/clinic-settings`)).json()).toMatchObject({
      timeZone: 'Europe/Berlin',
    });

    // An overlap is named in the clinic's zone now.
    const patient = await desk.post(`${stack.url}/api/patients`, {
      name: 'Zone Patient',
      dateOfBirth: '1980-02-03',
    });
    const patientId = ((await patient.json()) as { patient: { id: string } }).patient.id;
    // Three days on: never the day the usage report's spec books for this clinician (tomorrow, 10:00–11:30 UTC),
    // whatever the time of day the suite runs at.
    const start = new Date(Math.ceil((Date.now() + 72 * 3600_000) / 60_000) * 60_000);
    const offset = (zone: string): string =>
      new Intl.DateTimeFormat('en-GB', { timeZone: zone, timeZoneName: 'longOffset' })
        .formatToParts(start)
        .find((p) => p.type === 'timeZoneName')!
        .value.replace('GMT', 'UTC');
    const book = (s: Date) =>
      desk.post(`${stack.url}/api/appointments`, {
        clinicianId,
        patientId,
        startTime: s.toISOString(),
        endTime: new Date(s.getTime() + 30 * 60_000).toISOString(),
      });
    expect((await book(start)).status).toBe(201);
    const clash = await book(new Date(start.getTime() + 10 * 60_000));
    expect(clash.status).toBe(400);
    // Named with the zone and its offset on that day (UTC+01:00 in winter, UTC+02:00 in summer).
    const clashText = JSON.stringify(await clash.json());
    expect(clashText).toContain('Europe/Berlin');
    expect(clashText).toContain(offset('Europe/Berlin'));

    expect((await put(admin, { timeZone: 'America/New_York' })).status).toBe(200);
    const again = await book(new Date(start.getTime() + 5 * 60_000));
    const againText = JSON.stringify(await again.json());
    expect(againText).toContain('America/New_York');
    expect(againText).toContain(offset('America/New_York'));
  });
});

describe('the dev stack’s mail page through the gateway', () => {
  it('exists only with a loopback catcher configured, and shows staff what it caught', async () => {
    expect((await admin.fetch(`${stack.url}/api/dev/mail`)).status).toBe(404);
    const catcher = await startMailCatcher({ httpPort: 0 });
    try {
      const url = await stack.startGateway({ devMailUrl: catcher.pageUrl ?? '' });
      const jar = await signedIn(url, 'desk@admin.test', STACK_PASSWORD);
      const empty = await jar.fetch(`${url}/api/dev/mail`);
      expect(empty.status).toBe(200);
      expect(await empty.json()).toEqual({ messages: [] });
      await createTransport({
        host: '127.0.0.1',
        port: catcher.port,
        secure: false,
        ignoreTLS: true,
      }).sendMail({
        from: 'clinic@demo.test',
        to: 'patient@demo.test',
        subject: 'Your video visit with Demo Clinic',
        text: 'Join here: http://localhost/join#token',
      });
      const caught = await jar.fetch(`${url}/api/dev/mail`);
      expect(await caught.json()).toMatchObject({
        messages: [
          {
            to: 'patient@demo.test',
            subject: 'Your video visit with Demo Clinic',
            text: expect.stringContaining('Join here') as unknown,
          },
        ],
      });
      expect((await new CookieJar().fetch(`${url}/api/dev/mail`)).status).toBe(401);
    } finally {
      await catcher.close();
    }
  });
});
