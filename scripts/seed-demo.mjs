#!/usr/bin/env node
// Seeds the demo clinic's staff, idempotently, through the identity CLI's app layer (the same code
// path as the RPCs): run by the dev stack after the services are healthy. A second run changes
// nothing. Writes <HAVEN_HOME>/demo-accounts.txt (0600).
//
// Env: NATS_URL, HAVEN_HOME (default <repo>/.haven), HAVEN_DATA_DIR (default <HAVEN_HOME>/data/identity),
// HAVEN_DEMO_PASSWORD (default Haven-Demo-2026!).
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const HOME = resolve(process.env.HAVEN_HOME ?? join(ROOT, '.haven'));
const PASSWORD = process.env.HAVEN_DEMO_PASSWORD ?? 'Haven-Demo-2026!';
const { runCli } = createRequire(import.meta.url)(join(ROOT, 'services', 'identity', 'dist', 'cli.js'));

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

mkdirSync(HOME, { recursive: true });
const lines = [
  'Haven demo clinic accounts (development only; change these before any real use)',
  '',
  ...USERS.map((u) => `${u.role.padEnd(11)} ${u.email.padEnd(24)} ${PASSWORD}`),
  '',
];
writeFileSync(join(HOME, 'demo-accounts.txt'), lines.join('\n'), { mode: 0o600 });
process.stdout.write(`seed: demo accounts in ${join(HOME, 'demo-accounts.txt')}\n`);
process.exit(failed === 0 ? 0 : 1);
