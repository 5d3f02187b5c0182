#!/usr/bin/env node
// Haven dev stack (`npm start`, after scripts/setup.sh installed and built everything):
// nats-server (JetStream, one user per service with its permissions, streams provisioned as the operator) +
// every service whose dist/index.js exists + Janus (generated config), each child's output prefixed with its
// name. Janus starts after the services, before the gateway: its event handler posts to the session service
// from its first event, and the session service connects to Janus as soon as it answers. Ctrl-C stops everything in reverse order. The stack itself is @haven/testing's launchStack (the one the
// tests use); this file adds what only a developer's stack has: fixed ports, state kept in HAVEN_HOME across
// runs, Janus unprivileged, restarts, the demo clinic and the box of URLs.
//
// A service that crashes is started again after a back-off (1 s, doubling to 30 s; reset once it ran a minute),
// at most 5 times a minute: a crash loop is then reported and left alone instead of spinning.
//
// Env knobs: HAVEN_HOME (state dir, default <repo>/.haven), HAVEN_DEV_SERVICES (comma list or "none";
// default: every built service), LOG_LEVEL (passed to services), HAVEN_JANUS_DEBUG_LEVEL (default 3),
// HAVEN_DEV_PORT_OFFSET (added to every service port, default 0: a second stack, or tests, beside the first),
// HAVEN_JANUS_ICE_INTERFACE (the network interface(s) Janus gathers ICE candidates on, Janus's
// nat.ice_enforce_list: `eth0`, `wlan0,eth0` or an address prefix; default every interface but vmnet*),
// HAVEN_DEV_OIDC=1 (a local OpenID provider, oidc-provider from @haven/testing, and "Sign in with Haven dev IdP"
// on the sign-in page: staff single sign-on without a hospital's IdP; dev only).
//
// Signals: SIGINT and SIGTERM stop the stack in reverse order, whether they come from a terminal's Ctrl-C (the
// whole foreground process group) or are sent to this process alone; `npm start` execs into this process, so
// `kill -INT <pid of npm>` reaches it too (npm forwards SIGINT and SIGTERM to its child).
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import janusConfig from './janus-config.cjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const HOME = resolve(process.env.HAVEN_HOME ?? join(ROOT, '.haven'));
const PORT_OFFSET = Number(process.env.HAVEN_DEV_PORT_OFFSET ?? 0);
if (!Number.isInteger(PORT_OFFSET) || PORT_OFFSET < 0 || PORT_OFFSET > 30_000) {
  process.stderr.write('HAVEN_DEV_PORT_OFFSET must be an integer between 0 and 30000\n');
  process.exit(2);
}
// gRPC ports 20051–20055 lie below Linux's ephemeral range (32768–60999), so an outgoing connection's local
// port never takes them (see DEFAULT_GRPC_PORTS in packages/service/src/config.ts).
const SERVICES = [
  // name, gRPC port, HTTP port (identity: JWKS; scheduling: patient-token JWKS; session: Janus event handler; gateway: the web app)
  { name: 'identity', grpc: 20051, http: 8081 },
  { name: 'scheduling', grpc: 20052, http: 8083 },
  { name: 'session', grpc: 20053, http: 8090 },
  { name: 'recording', grpc: 20054 },
  { name: 'audit', grpc: 20055 },
  { name: 'gateway', http: 8080 },
].map((s) => ({
  ...s,
  ...(s.grpc ? { grpc: s.grpc + PORT_OFFSET } : {}),
  ...(s.http ? { http: s.http + PORT_OFFSET } : {}),
}));
// Janus's nat.ice_enforce_list: names or address prefixes, comma separated (no quotes or spaces: it goes into the config).
const ICE_INTERFACE = process.env.HAVEN_JANUS_ICE_INTERFACE?.trim() ?? '';
if (ICE_INTERFACE !== '' && !/^[A-Za-z0-9_.:-]+(,[A-Za-z0-9_.:-]+)*$/.test(ICE_INTERFACE)) {
  process.stderr.write(
    'HAVEN_JANUS_ICE_INTERFACE must be interface names or address prefixes, comma separated (eth0,wlan0)\n',
  );
  process.exit(2);
}
const portOf = (name, kind) => SERVICES.find((s) => s.name === name)[kind];
const RESTART = { firstDelayMs: 1_000, maxDelayMs: 30_000, perMinute: 5, healthyAfterMs: 60_000 };
// Per-service extras. MFA is relaxed for the demo so the seeded admin and clinician sign in with a password
// alone; `HAVEN_DEV_MFA=required npm start` keeps the production default (admin and clinician enrol TOTP on
// their first sign-in, through the web app's enrollment screen).
const MFA_RELAXED = process.env.HAVEN_DEV_MFA !== 'required';
const SERVICE_ENV = {
  // Passkeys: WebAuthn needs a domain (never an IP address) for its RP ID: open the web app at localhost.
  identity: {
    HAVEN_PUBLIC_URL: `http://localhost:${portOf('gateway', 'http')}`,
    ...(MFA_RELAXED ? { HAVEN_MFA_REQUIRED_ROLES: 'none' } : {}),
  },
  scheduling: { HAVEN_PUBLIC_URL: `http://localhost:${portOf('gateway', 'http')}` },
  // Rooms record into the recordings directory only (rec_dir): <recordings>/<recording id>/ per recording. The
  // recording service reads the same folder (HAVEN_RECORDINGS_DIR, given to every service by the stack).
  session: { HAVEN_JANUS_RECORDINGS_DIR: join(HOME, 'recordings') },
  // Browsers reach media only through the gateway, which relays to the session service's media proxy.
  gateway: { HAVEN_SESSION_MEDIA_URL: `ws://127.0.0.1:${portOf('session', 'http')}/media` },
};
// The dev stack's own knobs are not the services' variables (they refuse unknown HAVEN_* variables).
const CHILD_ENV = Object.fromEntries(
  Object.entries(process.env).filter(
    ([k]) =>
      ![
        'HAVEN_HOME',
        'HAVEN_DEV_SERVICES',
        'HAVEN_JANUS_DEBUG_LEVEL',
        'HAVEN_DEV_MFA',
        'HAVEN_DEV_PORT_OFFSET',
        'HAVEN_JANUS_ICE_INTERFACE',
        'HAVEN_DEV_OIDC',
      ].includes(k),
  ),
);
const COLORS = [36, 33, 35, 32, 34, 91, 96, 93];
const useColor = process.stdout.isTTY || Boolean(process.env.FORCE_COLOR);
let stopping = false;
/** @type {import('@haven/testing').LaunchedStack | undefined} */
let stack;
/** @type {import('@haven/testing').Child | undefined} */
let seed;
const colorOf = new Map();
const startedAt = new Map();
const restarts = new Map(); // service name -> { times: number[], timer }

function label(name, i = colorOf.get(name)) {
  if (i === undefined) colorOf.set(name, (i = colorOf.size));
  const padded = name.padEnd(10).slice(0, 10);
  return useColor ? `\x1b[${COLORS[i % COLORS.length]}m${padded}\x1b[0m|` : `${padded}|`;
}
function log(msg) {
  process.stdout.write(`${label('dev-stack', 7)} ${msg}\n`);
}
// Every child's lines, prefixed with its name; nats-server and Janus are required: their exit stops the stack.
const hooks = {
  detached: true, // own process group: a terminal Ctrl-C reaches only us, and we stop the children in order
  onStart(name, pid) {
    startedAt.set(name, Date.now());
    log(`${name} started (pid ${pid})`);
  },
  onLine(name, line, stream) {
    (stream === 'stdout' ? process.stdout : process.stderr).write(`${label(name)} ${line}\n`);
  },
  onExit(name, code, signal) {
    if (stopping) return;
    log(`${name} exited (code ${code}, signal ${signal})`);
    if (name === 'nats' || name === 'janus') {
      log(`${name} is required: stopping the dev stack`);
      void shutdown(1);
    }
  },
};

/** A crashed service starts again after a back-off (see RESTART), unless it is crash-looping. */
function scheduleRestart(service) {
  const { name } = service;
  const now = Date.now();
  const entry = restarts.get(name) ?? { times: [], timer: undefined };
  restarts.set(name, entry);
  if (now - (startedAt.get(name) ?? now) >= RESTART.healthyAfterMs) entry.times = [];
  entry.times = entry.times.filter((t) => now - t < 60_000);
  if (entry.times.length >= RESTART.perMinute) {
    log(
      `${name} is crash-looping (${entry.times.length} restarts within a minute): not restarting it again; ` +
        'see its output above, fix it and start the dev stack again',
    );
    return;
  }
  const delay = Math.min(RESTART.maxDelayMs, RESTART.firstDelayMs * 2 ** entry.times.length);
  entry.times.push(now + delay);
  log(
    `${name}: restarting in ${delay / 1000} s (restart ${entry.times.length} of at most ` +
      `${RESTART.perMinute} a minute)`,
  );
  entry.timer = setTimeout(() => {
    entry.timer = undefined;
    if (!stopping) service.start().catch((err) => log(`WARNING: ${err.message.split('\n')[0]}`));
  }, delay);
}

function portFree(port) {
  return new Promise((res) => {
    const s = createServer().once('error', () => res(false));
    s.listen({ port, host: '127.0.0.1', exclusive: true }, () => s.close(() => res(true)));
  });
}
async function firstFreePort(from) {
  for (let p = from; p < from + 50; p += 1) if (await portFree(p)) return p;
  throw new Error(`no free port in ${from}-${from + 49}`);
}

function chownTree(path, uid, gid) {
  chownSync(path, uid, gid);
  for (const e of readdirSync(path, { withFileTypes: true })) {
    if (e.isDirectory()) chownTree(join(path, e.name), uid, gid);
    else if (e.isFile()) chownSync(join(path, e.name), uid, gid);
  }
}

/**
 * The user Janus runs as. Janus needs no privilege (its ports are above 1024), so when the dev stack runs as root
 * it runs Janus as `nobody`, owning only its configuration (secrets, 0700), its log file and the recordings
 * directory. When that user cannot reach them (HAVEN_HOME inside a private directory), Janus runs as the current
 * user and a line says so. Returns { uid, gid, name } or undefined (current user).
 */
function janusUser({ configDir, configFile, logFile, recordingsDir }) {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  const entry = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('nobody:'));
  if (!entry) return undefined;
  const [, , uidText, gidText] = entry.split(':');
  const uid = Number(uidText);
  const gid = Number(gidText);
  writeFileSync(logFile, '', { flag: 'a', mode: 0o600 });
  for (const p of [configDir, recordingsDir]) chownTree(p, uid, gid);
  chownSync(logFile, uid, gid);
  const probe = spawnSync('setpriv', [
    `--reuid=${uid}`,
    `--regid=${gid}`,
    '--clear-groups',
    'sh',
    '-c',
    'test -r "$1" && test -w "$2" && test -w "$3"',
    'probe',
    configFile,
    recordingsDir,
    logFile,
  ]);
  if (probe.status !== 0) {
    log(
      `Janus runs as root: user nobody cannot reach ${HOME} (set HAVEN_HOME to a directory it can traverse)`,
    );
    return undefined;
  }
  return { uid, gid, name: 'nobody' };
}

function secrets() {
  const file = join(HOME, 'secrets.json');
  let s = {};
  if (existsSync(file)) s = JSON.parse(readFileSync(file, 'utf8'));
  s.janusAdminSecret ??= janusConfig.randomJanusSecret();
  s.janusTokenSecret ??= janusConfig.randomJanusSecret();
  s.janusEventsSecret ??= janusConfig.randomJanusSecret();
  // Identity believes the browser address the gateway passes on only from the holder of this secret.
  s.forwarderSecret ??= randomBytes(32).toString('base64url');
  // NATS: one password per service user, and the operator's (creates and changes streams; no service has it).
  s.natsPasswords ??= {};
  for (const user of ['operator', ...HAVEN_SERVICE_USERS])
    s.natsPasswords[user] ??= janusConfig.randomJanusSecret();
  writeFileSync(file, `${JSON.stringify(s, null, 2)}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return s;
}

async function shutdown(code) {
  if (stopping) return;
  stopping = true;
  log('stopping…');
  for (const { timer } of restarts.values()) clearTimeout(timer);
  await seed?.stop();
  await stack?.stop();
  await devIdp?.stop();
  await mailCatcher?.close();
  log('stopped');
  process.exit(code);
}
process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));

// Built by `npm run build` (scripts/setup.sh): the users the chart and the tests use too, and the launcher.
const { HAVEN_SERVICE_USERS } = require(join(ROOT, 'packages', 'eventstore', 'dist', 'index.js'));
/** @type {typeof import('@haven/testing')} */
const { launchStack, spawnChild, startMailCatcher, startOidcProvider } = require(
  join(ROOT, 'packages', 'testing', 'dist', 'index.js'),
);

/** @type {import('@haven/testing').MailCatcher | undefined} */
let mailCatcher;
/**
 * The local SMTP catcher (smtp-server on loopback, no TLS): scheduling's invitations and reminders go there, and
 * http://127.0.0.1:8025/ lists them. Nothing leaves the machine. Returns scheduling's extra variables.
 */
async function startDevMail() {
  mailCatcher = await startMailCatcher({
    port: await firstFreePort(1025 + PORT_OFFSET),
    httpPort: await firstFreePort(8025 + PORT_OFFSET),
  });
  return {
    HAVEN_SMTP_URL: `smtp://127.0.0.1:${mailCatcher.port}`,
    HAVEN_SMTP_REQUIRE_TLS: 'false',
    HAVEN_SMTP_FROM: 'Demo Clinic <no-reply@demo.clinic>',
    HAVEN_CLINIC_NAME: 'Demo Clinic',
  };
}

/** @type {import('@haven/testing').OidcProviderHandle | undefined} */
let devIdp;
const DEV_IDP_ACCOUNTS = [
  { sub: 'sso-admin', email: 'sso-admin@dev-idp.test', name: 'Ada Admin (SSO)', groups: ['haven-admins'] },
  {
    sub: 'sso-clinician',
    email: 'sso-clinician@dev-idp.test',
    name: 'Dr Grace SSO',
    groups: ['haven-clinicians'],
  },
  { sub: 'sso-desk', email: 'sso-desk@dev-idp.test', name: 'Front Desk (SSO)', groups: ['haven-front-desk'] },
  {
    sub: 'sso-visitor',
    email: 'sso-visitor@dev-idp.test',
    name: 'Visitor (no Haven group)',
    groups: ['guests'],
  },
];

/**
 * HAVEN_DEV_OIDC=1: a local OpenID provider and the SSO configuration identity and the gateway read (in HAVEN_HOME,
 * the client secret 0600). Returns the services' extra variables, or {} when the switch is off.
 */
async function startDevIdp() {
  if (process.env.HAVEN_DEV_OIDC !== '1') return {};
  const publicUrl = `http://localhost:${portOf('gateway', 'http')}`;
  const secretFile = join(HOME, 'dev-idp-client-secret');
  if (!existsSync(secretFile))
    writeFileSync(secretFile, randomBytes(32).toString('base64url'), { mode: 0o600 });
  const clientSecret = readFileSync(secretFile, 'utf8').trim();
  devIdp = await startOidcProvider({
    port: await firstFreePort(9090 + PORT_OFFSET),
    clients: [
      {
        clientId: 'haven-dev',
        clientSecret,
        redirectUris: [`${publicUrl}/api/auth/sso/callback`],
        postLogoutRedirectUris: [`${publicUrl}/`],
      },
    ],
    accounts: DEV_IDP_ACCOUNTS,
  });
  const configFile = join(HOME, 'sso-dev.json');
  const provider = {
    id: 'dev-idp',
    displayName: 'Haven dev IdP',
    issuer: devIdp.issuer,
    clientId: 'haven-dev',
    clientSecretFile: secretFile,
    groupsClaim: 'groups',
    roles: [
      { group: 'haven-admins', role: 'admin' },
      { group: 'haven-clinicians', role: 'clinician' },
      { group: 'haven-front-desk', role: 'front_desk' },
    ],
  };
  writeFileSync(configFile, `${JSON.stringify({ providers: [provider] }, null, 2)}\n`);
  return {
    identity: { HAVEN_SSO_CONFIG_FILE: configFile },
    gateway: { HAVEN_SSO_CONFIG_FILE: configFile, HAVEN_PUBLIC_URL: publicUrl },
  };
}

async function main() {
  for (const d of ['nats', 'janus', 'recordings', 'data', 'logs'])
    mkdirSync(join(HOME, d), { recursive: true });
  // HAVEN_RECORDINGS_DIR, shared by Janus (writes) and the recording service (reads): raw media, owner only.
  chmodSync(join(HOME, 'recordings'), 0o700);
  const { janusAdminSecret, janusTokenSecret, janusEventsSecret, forwarderSecret, natsPasswords } = secrets();
  const forwarding = { HAVEN_FORWARDER_SECRET: forwarderSecret };
  const wanted = process.env.HAVEN_DEV_SERVICES;
  const services = SERVICES.filter(({ name }) =>
    existsSync(join(ROOT, 'services', name, 'dist', 'index.js')),
  ).filter(
    ({ name }) =>
      wanted === undefined ||
      wanted
        .split(',')
        .map((s) => s.trim())
        .includes(name),
  );

  const natsPort = await firstFreePort(4222);
  const wsPort = await firstFreePort(8188);
  const adminWsPort = await firstFreePort(wsPort === 7188 ? 7189 : 7188);
  const sso = await startDevIdp();
  const mail = await startDevMail();
  stack = await launchStack({
    services: services.map((s) => s.name),
    dir: HOME,
    ports: Object.fromEntries(SERVICES.map(({ name, grpc, http }) => [name, { grpc, http }])),
    // Every service gets the whole stack's variables, as the chart gives them.
    stackWideEnv: true,
    baseEnv: CHILD_ENV,
    logLevel: process.env.LOG_LEVEL ?? 'info',
    env: {
      ...SERVICE_ENV,
      identity: { ...SERVICE_ENV.identity, ...forwarding, ...sso.identity },
      // The web app shows the catcher's mail (admin console, "Local mail"): the first visit's invitation arrives there.
      gateway: {
        ...SERVICE_ENV.gateway,
        ...forwarding,
        ...sso.gateway,
        ...(mailCatcher?.pageUrl ? { HAVEN_DEV_MAIL_URL: mailCatcher.pageUrl } : {}),
      },
      scheduling: { ...SERVICE_ENV.scheduling, ...mail },
    },
    nats: { port: natsPort, dir: join(HOME, 'nats'), passwords: natsPasswords },
    janus: {
      configDir: join(HOME, 'janus'),
      logFile: join(HOME, 'logs', 'janus.log'),
      recordingsDir: join(HOME, 'recordings'),
      wsPort,
      adminWsPort,
      // Same as the chart: creating a videoroom needs the admin key, so only the session service can.
      adminKey: janusAdminSecret,
      tokenSecret: janusTokenSecret,
      eventsSecret: janusEventsSecret,
      debugLevel: Number(process.env.HAVEN_JANUS_DEBUG_LEVEL ?? 3),
      // After the session service: Janus's event handler posts to it from Janus's first event.
      startAfterServices: true,
      ...(ICE_INTERFACE ? { iceEnforceList: ICE_INTERFACE } : {}),
      runAs: (files) => {
        const user = janusUser(files);
        if (user) log(`janus runs as user ${user.name} (uid ${user.uid})`);
        return user;
      },
    },
    hooks,
    // A service that does not come up is reported; the others keep running (and it restarts if it crashed).
    onNotReady: (name, err) => log(`WARNING: ${err.message.split('\n')[0]}`),
    onServiceExit: (service) => {
      if (!stopping) scheduleRestart(service);
    },
  });
  for (const { stream, action, changed } of stack.nats.provisioning)
    log(`nats: ${stream} ${action}${changed.length ? ` (${changed.join(', ')})` : ''}`);

  const started = [...stack.services.values()];
  const seedScript = join(ROOT, 'scripts', 'seed-demo.mjs');
  if (stack.services.has('identity') && existsSync(seedScript)) {
    // The seed creates users through identity's app layer: identity's NATS user, the stack's variables.
    const {
      HAVEN_DATA_DIR: _data,
      HAVEN_GRPC_PORT: _grpc,
      HAVEN_HTTP_PORT: _http,
      HAVEN_FORWARDER_SECRET: _forwarder,
      HAVEN_MFA_REQUIRED_ROLES: _mfa,
      HAVEN_SSO_CONFIG_FILE: _sso,
      ...env
    } = stack.service('identity').env;
    seed = spawnChild({
      name: 'seed',
      command: process.execPath,
      args: [seedScript],
      cwd: ROOT,
      env: { ...env, HAVEN_HOME: HOME },
      hooks,
    });
    await seed.done;
  }
  const cfg = { wsUrl: stack.janus.wsUrl, adminWsUrl: stack.janus.adminWsUrl };

  const accounts = ['demo-accounts.txt', 'demo-accounts.json']
    .map((f) => join(HOME, f))
    .find((f) => existsSync(f));
  const lines = [
    `Haven is running: open http://localhost:${portOf('gateway', 'http')}`,
    '',
    `NATS        nats://127.0.0.1:${natsPort} (TLS with client certificates, a user per service; operator password in secrets.json)`,
    `certificates ${stack.pki.dir} (local CA; a certificate per service, made at the first start)`,
    `Janus       ${cfg.wsUrl} (admin ${cfg.adminWsUrl})${ICE_INTERFACE ? `, ICE on ${ICE_INTERFACE}` : ''}`,
    `services    ${started.map((s) => s.name).join(', ') || 'none built (run npm run build)'}`,
    `state       ${HOME} (secrets.json, logs/janus.log)`,
    ...(mailCatcher
      ? [
          `local mail  ${mailCatcher.pageUrl} (invitations and reminders; SMTP catcher on 127.0.0.1:${mailCatcher.port})`,
        ]
      : []),
    ...(MFA_RELAXED
      ? [
          'MFA         relaxed in the dev stack; HAVEN_DEV_MFA=required npm start to require it (production default)',
        ]
      : []),
    ...(devIdp
      ? [
          `SSO         "Sign in with Haven dev IdP" (${devIdp.issuer}, any password): sso-admin, sso-clinician,`,
          '            sso-desk, sso-visitor (no Haven group: refused); first sign-ins wait for an admin',
        ]
      : []),
    ...(accounts
      ? ['', `demo accounts (${accounts}):`, ...readFileSync(accounts, 'utf8').trimEnd().split('\n')]
      : []),
    '',
    'Ctrl-C stops everything.',
  ];
  const width = Math.max(...lines.map((l) => l.length));
  process.stdout.write(
    `\n┌${'─'.repeat(width + 2)}┐\n${lines.map((l) => `│ ${l.padEnd(width)} │`).join('\n')}\n└${'─'.repeat(width + 2)}┘\n\n`,
  );
}

main().catch((err) => {
  log(`failed: ${err.message}`);
  void shutdown(1);
});
