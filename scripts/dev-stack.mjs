#!/usr/bin/env node
// Haven dev stack (`npm start`, after scripts/setup.sh installed and built everything):
// nats-server (JetStream, one user per service with its permissions, streams provisioned as the operator) +
// Janus (generated config) + every service whose dist/index.js exists, each child's output prefixed with its
// name. Ctrl-C stops everything in reverse order.
//
// A service that crashes is started again after a back-off (1 s, doubling to 30 s; reset once it ran a minute),
// at most 5 times a minute: a crash loop is then reported and left alone instead of spinning.
//
// Env knobs: HAVEN_HOME (state dir, default <repo>/.haven), HAVEN_DEV_SERVICES (comma list or "none";
// default: every built service), LOG_LEVEL (passed to services), HAVEN_JANUS_DEBUG_LEVEL (default 3),
// HAVEN_DEV_PORT_OFFSET (added to every service port, default 0: a second stack, or tests, beside the first).
import { spawn, spawnSync } from 'node:child_process';
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
import { connect, createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
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
const portOf = (name, kind) => SERVICES.find((s) => s.name === name)[kind];
const RESTART = { firstDelayMs: 1_000, maxDelayMs: 30_000, perMinute: 5, healthyAfterMs: 60_000 };
// Per-service extras. MFA is relaxed for the demo so the seeded admin and clinician sign in with a password
// alone; `HAVEN_DEV_MFA=required npm start` keeps the production default (admin and clinician enrol TOTP on
// their first sign-in, through the web app's enrollment screen).
const MFA_RELAXED = process.env.HAVEN_DEV_MFA !== 'required';
const SERVICE_ENV = {
  identity: MFA_RELAXED ? { HAVEN_MFA_REQUIRED_ROLES: 'none' } : {},
  scheduling: { HAVEN_PUBLIC_URL: `http://localhost:${portOf('gateway', 'http')}` },
  // Rooms record into the recordings directory only (rec_dir).
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
      ].includes(k),
  ),
);
const COLORS = [36, 33, 35, 32, 34, 91, 96, 93];
const useColor = process.stdout.isTTY || Boolean(process.env.FORCE_COLOR);
const children = []; // { name, child, critical, exited, restarts, timer }
let stopping = false;

function label(name, i) {
  const padded = name.padEnd(10).slice(0, 10);
  return useColor ? `\x1b[${COLORS[i % COLORS.length]}m${padded}\x1b[0m|` : `${padded}|`;
}
function log(msg) {
  process.stdout.write(`${label('dev-stack', 7)} ${msg}\n`);
}
function pipeLines(stream, prefix, out) {
  let buf = '';
  stream.on('data', (d) => {
    buf += d.toString();
    const lines = buf.split('\n');
    buf = lines.pop() ?? '';
    for (const line of lines) out.write(`${prefix} ${line}\n`);
  });
  stream.on('end', () => buf && out.write(`${prefix} ${buf}\n`));
}

// `restart`: start the process again when it dies (see RESTART); otherwise a `critical` one stops the stack.
// `user`: run it as that uid/gid.
function start(name, cmd, args, { env = {}, critical = false, restart = false, user } = {}) {
  const prefix = label(name, children.length);
  const entry = { name, critical, exited: false, restarts: [], timer: undefined, child: undefined };
  children.push(entry);
  const spawnChild = () => {
    // detached: own process group, so a terminal Ctrl-C reaches only us and we stop children in order.
    const child = spawn(cmd, args, {
      cwd: ROOT,
      env: { ...CHILD_ENV, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
      ...(user ? { uid: user.uid, gid: user.gid } : {}),
    });
    const startedAt = Date.now();
    entry.child = child;
    entry.exited = false;
    pipeLines(child.stdout, prefix, process.stdout);
    pipeLines(child.stderr, prefix, process.stderr);
    child.on('error', (err) => log(`${name}: failed to start: ${err.message}`));
    child.on('exit', (code, signal) => {
      entry.exited = true;
      if (stopping) return;
      log(`${name} exited (code ${code}, signal ${signal})`);
      if (restart) {
        scheduleRestart(startedAt);
      } else if (critical) {
        log(`${name} is required: stopping the dev stack`);
        void shutdown(1);
      }
    });
    log(`${name} started (pid ${child.pid})`);
  };
  const scheduleRestart = (startedAt) => {
    const now = Date.now();
    if (now - startedAt >= RESTART.healthyAfterMs) entry.restarts = [];
    entry.restarts = entry.restarts.filter((t) => now - t < 60_000);
    if (entry.restarts.length >= RESTART.perMinute) {
      log(
        `${name} is crash-looping (${entry.restarts.length} restarts within a minute): not restarting it again; ` +
          'see its output above, fix it and start the dev stack again',
      );
      return;
    }
    const delay = Math.min(RESTART.maxDelayMs, RESTART.firstDelayMs * 2 ** entry.restarts.length);
    entry.restarts.push(now + delay);
    log(
      `${name}: restarting in ${delay / 1000} s (restart ${entry.restarts.length} of at most ` +
        `${RESTART.perMinute} a minute)`,
    );
    entry.timer = setTimeout(() => {
      entry.timer = undefined;
      if (!stopping) spawnChild();
    }, delay);
  };
  spawnChild();
  return entry;
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
async function waitFor(what, probe, timeoutMs, entry) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (entry?.exited) throw new Error(`${what}: process exited`);
    if (await probe().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} not ready after ${timeoutMs} ms`);
}
const tcpOpen = (port) =>
  new Promise((res) => {
    const s = connect({ port, host: '127.0.0.1' }, () => s.end(() => res(true)));
    s.setTimeout(1000, () => (s.destroy(), res(false)));
    s.once('error', () => res(false));
  });
const janusInfo = (url) =>
  new Promise((res) => {
    const ws = new WebSocket(url, 'janus-protocol');
    const t = setTimeout(() => (ws.terminate(), res(false)), 2000);
    ws.once('error', () => (clearTimeout(t), res(false)));
    ws.once('open', () => ws.send(JSON.stringify({ janus: 'info', transaction: 'dev-stack' })));
    ws.once('message', (d) => {
      clearTimeout(t);
      ws.close();
      res(JSON.parse(d.toString()).janus === 'server_info');
    });
  });

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
  for (const { name, child, exited, timer: restartTimer } of [...children].reverse()) {
    clearTimeout(restartTimer);
    if (exited || child.exitCode !== null || child.signalCode !== null) continue;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const timer = setTimeout(() => {
      log(`${name} did not stop within 5 s: SIGKILL`);
      child.kill('SIGKILL');
    }, 5000);
    await gone;
    clearTimeout(timer);
  }
  log('stopped');
  process.exit(code);
}
process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));
process.on('exit', () => {
  for (const { child } of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

// Built by `npm run build` (scripts/setup.sh): the users, permissions and stream provisioning the chart and the
// tests use too.
const { HAVEN_SERVICE_USERS, closeNatsConnection, provisionHavenStreams, renderNatsAuthorization } = require(
  join(ROOT, 'packages', 'eventstore', 'dist', 'index.js'),
);

/** nats.conf (0600): 127.0.0.1 only, JetStream in HAVEN_HOME/nats, a user per service, nothing anonymous. */
function writeNatsConfig(port, passwords) {
  const file = join(HOME, 'nats', 'nats.conf');
  const config = [
    `listen: "127.0.0.1:${port}"`,
    `jetstream { store_dir: ${JSON.stringify(join(HOME, 'nats'))} }`,
    renderNatsAuthorization({ operator: passwords.operator, services: passwords }),
  ].join('\n');
  writeFileSync(file, config, { mode: 0o600 });
  chmodSync(file, 0o600);
  return file;
}

/** Creates (or brings up to date) HAVEN_ES, HAVEN_BUS, the checkpoint bucket and HAVEN_REVOCATIONS as the operator. */
async function provisionStreams(url, password) {
  const { connect } = require('nats');
  const nc = await connect({
    servers: url,
    user: 'operator',
    pass: password,
    name: 'dev-stack-provisioning',
  });
  try {
    for (const { stream, action, changed } of await provisionHavenStreams(nc, { replicas: 1 }))
      log(`nats: ${stream} ${action}${changed.length ? ` (${changed.join(', ')})` : ''}`);
  } finally {
    await closeNatsConnection(nc);
  }
}

async function main() {
  for (const d of ['nats', 'janus', 'recordings', 'data', 'logs'])
    mkdirSync(join(HOME, d), { recursive: true });
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
  const nats = start('nats', 'nats-server', ['-c', writeNatsConfig(natsPort, natsPasswords)], {
    critical: true,
  });
  await waitFor('nats-server', () => tcpOpen(natsPort), 15_000, nats);
  await provisionStreams(`nats://127.0.0.1:${natsPort}`, natsPasswords.operator);

  const wsPort = await firstFreePort(8188);
  const adminWsPort = await firstFreePort(wsPort === 7188 ? 7189 : 7188);
  const cfg = janusConfig.generateJanusConfig({
    dir: join(HOME, 'janus'),
    wsPort,
    adminWsPort,
    adminSecret: janusAdminSecret,
    // Same as the chart: creating a videoroom needs the admin key, so only the session service can.
    videoroomAdminKey: janusAdminSecret,
    tokenAuthSecret: janusTokenSecret,
    recordingsDir: join(HOME, 'recordings'),
    // Only when the session service runs: otherwise Janus logs every undeliverable event.
    ...(services.some((s) => s.name === 'session')
      ? {
          eventHandlerUrl: `http://127.0.0.1:${portOf('session', 'http')}/janus-events`,
          eventHandlerPassword: janusEventsSecret,
        }
      : {}),
    logFile: join(HOME, 'logs', 'janus.log'),
    debugLevel: Number(process.env.HAVEN_JANUS_DEBUG_LEVEL ?? 3),
  });
  const user = janusUser({
    configDir: cfg.dir,
    configFile: cfg.configFile,
    logFile: join(HOME, 'logs', 'janus.log'),
    recordingsDir: join(HOME, 'recordings'),
  });
  const janus = start('janus', 'janus', ['-F', cfg.dir, '-C', cfg.configFile], { critical: true, user });
  if (user) log(`janus runs as user ${user.name} (uid ${user.uid})`);
  await waitFor('janus', () => janusInfo(cfg.wsUrl), 15_000, janus);

  const env = {
    NATS_URL: `nats://127.0.0.1:${natsPort}`,
    HAVEN_EVENT_STORE: 'jetstream',
    HAVEN_JWKS_URL: `http://127.0.0.1:${portOf('identity', 'http')}/.well-known/jwks.json`,
    HAVEN_PATIENT_JWKS_URL: `http://127.0.0.1:${portOf('scheduling', 'http')}/.well-known/jwks.json`,
    HAVEN_KMS: 'local',
    HAVEN_KEYRING_FILE: join(HOME, 'keyring.json'),
    HAVEN_JANUS_WS_URLS: cfg.wsUrl,
    HAVEN_JANUS_ADMIN_URLS: cfg.adminWsUrl,
    HAVEN_JANUS_ADMIN_SECRET: janusAdminSecret,
    HAVEN_JANUS_TOKEN_SECRET: janusTokenSecret,
    HAVEN_JANUS_EVENTS_SECRET: janusEventsSecret,
    HAVEN_RECORDINGS_DIR: join(HOME, 'recordings'),
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'info',
    ...Object.fromEntries(
      SERVICES.filter((s) => s.grpc).map((s) => [
        `HAVEN_${s.name.toUpperCase()}_GRPC_ADDR`,
        `127.0.0.1:${s.grpc}`,
      ]),
    ),
  };
  const started = [];
  for (const s of services) {
    const dataDir = join(HOME, 'data', s.name);
    mkdirSync(dataDir, { recursive: true });
    const own = {
      // Each service connects as its own NATS user (publishes only to its own context).
      NATS_USER: s.name,
      NATS_PASSWORD: natsPasswords[s.name],
      HAVEN_DATA_DIR: dataDir,
      ...(s.grpc ? { HAVEN_GRPC_PORT: String(s.grpc) } : {}),
      ...(s.http ? { HAVEN_HTTP_PORT: String(s.http) } : {}),
      ...(SERVICE_ENV[s.name] ?? {}),
      ...(s.name === 'identity' || s.name === 'gateway' ? forwarding : {}),
    };
    started.push({
      ...s,
      entry: start(s.name, process.execPath, [join('services', s.name, 'dist', 'index.js')], {
        env: { ...env, ...own },
        restart: true,
      }),
    });
  }
  for (const s of started) {
    try {
      await waitFor(s.name, () => tcpOpen(s.grpc ?? s.http), 30_000, s.entry);
    } catch (err) {
      log(`WARNING: ${err.message}`);
    }
  }
  const seed = join(ROOT, 'scripts', 'seed-demo.mjs');
  if (started.some((s) => s.name === 'identity') && existsSync(seed)) {
    const entry = start('seed', process.execPath, [seed], {
      // The seed creates users through identity's app layer: identity's NATS user.
      env: { ...env, HAVEN_HOME: HOME, NATS_USER: 'identity', NATS_PASSWORD: natsPasswords.identity },
    });
    await new Promise((r) => (entry.exited ? r() : entry.child.once('exit', r)));
  }

  const accounts = ['demo-accounts.txt', 'demo-accounts.json']
    .map((f) => join(HOME, f))
    .find((f) => existsSync(f));
  const lines = [
    `Haven is running: open http://localhost:${portOf('gateway', 'http')}`,
    '',
    `NATS        nats://127.0.0.1:${natsPort} (a user per service; operator password in secrets.json)`,
    `Janus       ${cfg.wsUrl} (admin ${cfg.adminWsUrl})`,
    `services    ${started.map((s) => s.name).join(', ') || 'none built (run npm run build)'}`,
    `state       ${HOME} (secrets.json, logs/janus.log)`,
    ...(MFA_RELAXED
      ? [
          'MFA         relaxed in the dev stack; HAVEN_DEV_MFA=required npm start to require it (production default)',
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
