#!/usr/bin/env node
// Seeds the demo clinic's staff, idempotently, through the identity CLI's app layer (the same code
// path as the RPCs): run by the dev stack after the services are healthy. A second run changes
// nothing for the staff. Then, over gRPC as the seeded front desk, it registers a demo patient
// (synthetic), books a visit with the demo clinician from the next minute until before the booking form's
// default slot (which starts 10 minutes after the page loads) and issues its patient
// link: every run books a fresh one. Writes <HAVEN_HOME>/demo-accounts.txt (0600) with the accounts,
// the link and its passcode.
//
// Env: NATS_URL, HAVEN_HOME (default <repo>/.haven), HAVEN_DATA_DIR (default <HAVEN_HOME>/data/identity),
// HAVEN_DEMO_PASSWORD (default Haven-Demo-2026!), HAVEN_IDENTITY_GRPC_ADDR / HAVEN_SCHEDULING_GRPC_ADDR
// (default 127.0.0.1:20051 / :20052; the demo visit is skipped when scheduling is not running).
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import demoVisit from './demo-visit.cjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const HOME = resolve(process.env.HAVEN_HOME ?? join(ROOT, '.haven'));
const PASSWORD = process.env.HAVEN_DEMO_PASSWORD ?? 'Haven-Demo-2026!';
const require = createRequire(import.meta.url);
const { runCli } = require(join(ROOT, 'services', 'identity', 'dist', 'cli.js'));

const USERS = [
  { email: 'admin@demo.clinic', role: 'admin', name: 'Alex Morgan' },
  { email: 'dr.rivera@demo.clinic', role: 'clinician', name: 'Dr. Sam Rivera' },
  { email: 'frontdesk@demo.clinic', role: 'front_desk', name: 'Jordan Lee' },
  { email: 'auditor@demo.clinic', role: 'auditor', name: 'Casey Park' },
];

const env = { ...process.env, HAVEN_DATA_DIR: process.env.HAVEN_DATA_DIR ?? join(HOME, 'data', 'identity') };
delete env.HAVEN_DEMO_PASSWORD;
let failed = 0;
for (const u of USERS) {
  const args =
    u.role === 'admin'
      ? ['admin', 'create', '--email', u.email, '--name', u.name, '--password-stdin', '--if-not-exists']
      : [
          'user',
          'invite',
          '--email',
          u.email,
          '--role',
          u.role,
          '--name',
          u.name,
          '--password-stdin',
          '--if-not-exists',
        ];
  const code = await runCli(args, {
    stdout: (t) => process.stdout.write(`seed: ${t}`),
    stderr: (t) => process.stderr.write(`seed: ${t}`),
    readStdin: async () => PASSWORD,
    env,
  });
  if (code !== 0) failed++;
}

/** Books the demo visit over gRPC as the front desk; returns the lines for demo-accounts.txt. */
async function seedDemoVisit() {
  const grpc = require('@grpc/grpc-js');
  const { identity, scheduling } = require('@haven/proto');
  const { callUnary, clientCallMetadata } = require('@haven/service');
  // The services want mutual TLS: the seed calls them as a hospital system would, with the dev CA's
  // `integration` certificate (plaintext only when the stack has no certificates).
  const pki = join(HOME, 'pki');
  const credentials = existsSync(join(pki, 'integration.pem'))
    ? grpc.credentials.createSsl(
        readFileSync(join(pki, 'ca.pem')),
        readFileSync(join(pki, 'integration.key')),
        readFileSync(join(pki, 'integration.pem')),
      )
    : grpc.credentials.createInsecure();
  const idClient = new identity.IdentityServiceClient(
    process.env.HAVEN_IDENTITY_GRPC_ADDR ?? '127.0.0.1:20051',
    credentials,
  );
  const schedClient = new scheduling.SchedulingServiceClient(
    process.env.HAVEN_SCHEDULING_GRPC_ADDR ?? '127.0.0.1:20052',
    credentials,
  );
  const md = (token) => clientCallMetadata(token ? { token } : {});
  const login = async (email) => {
    const res = await callUnary(
      idClient,
      'login',
      identity.LoginRequest.fromPartial({ username: email, password: PASSWORD }),
      md(),
    );
    const token = res.tokens?.accessToken;
    if (!token) throw new Error(`no access token for ${email}`);
    const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));
    return { token, id: claims.sub };
  };
  try {
    const frontDesk = await login(USERS.find((u) => u.role === 'front_desk').email);
    // The clinician's user id (their token's subject; a role-less MFA-enrollment token carries it too).
    const clinician = await login(USERS.find((u) => u.role === 'clinician').email);
    const patient = await callUnary(
      schedClient,
      'createPatient',
      scheduling.CreatePatientRequest.fromPartial({
        // A synthetic address: its invitation lands on the dev stack's local mail page, nowhere else.
        patient: {
          givenName: 'Avery',
          familyName: 'Demo-Patient',
          dateOfBirth: '1985-06-15',
          email: 'avery.demo-patient@patient.example',
        },
        requestId: randomUUID(),
      }),
      md(frontDesk.token),
    );
    // Until the booking form's default slot begins, so step 1 of the walkthrough books with the defaults.
    const { start, end } = demoVisit.demoVisitSlot(Date.now());
    const booked = await callUnary(
      schedClient,
      'bookAppointment',
      scheduling.BookAppointmentRequest.fromPartial({
        appointment: {
          clinician: `users/${clinician.id}`,
          patient: patient.patient.name,
          startTime: start,
          endTime: end,
        },
        requestId: randomUUID(),
      }),
      md(frontDesk.token),
    );
    const link = await callUnary(
      schedClient,
      'issuePatientLink',
      scheduling.IssuePatientLinkRequest.fromPartial({ appointment: booked.appointment.name }),
      md(frontDesk.token),
    );
    process.stdout.write(`seed: demo visit booked for ${start.toISOString()}\n`);
    return [
      `Demo visit with ${USERS.find((u) => u.role === 'clinician').name} ${start.toLocaleTimeString()}–${end.toLocaleTimeString()} (booked by the front desk):`,
      `patient link  ${link.url}`,
      `passcode      ${link.passcode}`,
      '',
    ];
  } finally {
    idClient.close();
    schedClient.close();
  }
}

let visitLines = [];
try {
  visitLines = await seedDemoVisit();
} catch (err) {
  const code = typeof err?.code === 'number' ? ` (gRPC ${err.code})` : '';
  process.stderr.write(`seed: demo visit not booked${code}: ${err?.details ?? err?.message ?? err}\n`);
}

mkdirSync(HOME, { recursive: true });
const lines = [
  'Haven demo clinic accounts (development only; change these before any real use)',
  '',
  ...USERS.map((u) => `${u.role.padEnd(11)} ${u.email.padEnd(24)} ${PASSWORD}`),
  '',
  ...visitLines,
];
writeFileSync(join(HOME, 'demo-accounts.txt'), lines.join('\n'), { mode: 0o600 });
process.stdout.write(`seed: demo accounts in ${join(HOME, 'demo-accounts.txt')}\n`);
process.exit(failed === 0 ? 0 : 1);
