// Deployment assets beside the chart: the images' Dockerfiles, the helm-test health check, the Janus
// configuration the chart renders (started in a real Janus), the OpenTelemetry collector allow-list,
// dashboards and alert rules.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { validate as lintDockerfile } from 'dockerfile-utils';
import { ALLOWED_ATTRIBUTES } from '@haven/telemetry';
import { parse as parseYaml } from 'yaml';
import { CHART, ROOT, ensureHelm, template, type K8sObject } from './helm-support';
import { connectJanusWs, ensureDevPki } from '@haven/testing';

const HEALTHCHECK = join(ROOT, 'deploy', 'images', 'healthcheck.mjs');

describe('container images', () => {
  it.each(['Dockerfile', 'janus.Dockerfile'])('%s lints clean (dockerfile-utils)', (name) => {
    const text = readFileSync(join(ROOT, 'deploy', 'images', name), 'utf8');
    expect(lintDockerfile(text)).toEqual([]);
  });

  it('the linter reports a broken Dockerfile (so the check above can fail)', () => {
    expect(lintDockerfile('FROM node:24-bookworm-slim\nRUNN npm ci\n').length).toBeGreaterThan(0);
  });

  it('the service image is multi-stage, installs production dependencies only and runs as uid 10001', () => {
    const text = readFileSync(join(ROOT, 'deploy', 'images', 'Dockerfile'), 'utf8');
    const stages = [...text.matchAll(/^FROM (\S+) AS (\w+)/gm)].map((m) => m[2]);
    expect(stages).toEqual(['build', 'runtime']);
    expect(text).toMatch(/^ARG NODE_IMAGE=node:24\.\d+\.\d+-bookworm-slim$/m); // the exact version: tests/setup
    const runtime = text.slice(text.indexOf('AS runtime'));
    expect(runtime).toContain('npm ci --omit=dev');
    expect(runtime).toMatch(/^USER 10001:10001$/m);
    expect(runtime).toMatch(/^ENTRYPOINT \["node"\]$/m);
    expect(readFileSync(join(ROOT, 'deploy', 'images', 'janus.Dockerfile'), 'utf8')).toMatch(
      /^USER 10001:10001$/m,
    );
    const ignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n');
    expect(ignore).toEqual(expect.arrayContaining(['.git', '**/node_modules', '.tools', '**/*.creds']));
  });
});

describe('deploy/images/healthcheck.mjs (the helm test pod)', () => {
  let server: grpc.Server;
  let port = 0;
  const health = new HealthImplementation({
    '': 'SERVING',
    'haven.session.v1.SessionService': 'NOT_SERVING',
  });

  beforeAll(async () => {
    server = new grpc.Server();
    health.addToServer(server);
    port = await new Promise<number>((resolve, reject) => {
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      );
    });
  });
  afterAll(() => {
    server.forceShutdown();
  });

  // Asynchronous: the gRPC server under test lives in this process, so the event loop must keep running.
  const check = (...args: string[]): Promise<{ status: number | null; stdout: string }> =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [HEALTHCHECK, '--timeout-ms=2000', ...args], {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      child.on('error', reject);
      child.on('exit', (status) => {
        clearTimeout(timer);
        resolve({ status, stdout });
      });
    });

  it('exits 0 when every target is SERVING', async () => {
    const r = await check(`127.0.0.1:${port}`);
    expect(r.stdout).toContain(`ok   127.0.0.1:${port} SERVING`);
    expect(r.status).toBe(0);
  });

  it('exits 1 when a service is NOT_SERVING', async () => {
    const r = await check(`127.0.0.1:${port}`, `127.0.0.1:${port}/haven.session.v1.SessionService`);
    expect(r.stdout).toContain('FAIL');
    expect(r.status).toBe(1);
  });

  it('exits 1 when a target is unreachable, 2 on bad usage', async () => {
    expect((await check('127.0.0.1:1')).status).toBe(1);
    expect((await check()).status).toBe(2);
    expect((await check('not a target')).status).toBe(2);
  });
});

describe('Janus configuration rendered by the chart', () => {
  let dir = '';
  let janus: ChildProcess | undefined;

  beforeAll(() => {
    ensureHelm();
    dir = mkdtempSync(join(tmpdir(), 'haven-janus-chart-'));
  });
  afterAll(async () => {
    if (janus !== undefined && janus.exitCode === null) {
      const exited = new Promise((r) => janus?.once('exit', r));
      janus.kill('SIGKILL');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('renders secrets in through the init script and starts a real Janus that answers the admin API', async () => {
    const hasJanus = spawnSync('sh', ['-c', 'command -v janus'], { encoding: 'utf8' }).status === 0;
    expect(hasJanus).toBe(true); // scripts/setup.sh installs janus
    const wsPort = 20000 + Math.floor(Math.random() * 20000);
    const adminPort = wsPort + 1;
    const objs = template([], [`janus.wsPort=${wsPort}`, `janus.adminPort=${adminPort}`]);
    const cm = objs.find((o: K8sObject) => o.kind === 'ConfigMap' && o.metadata.name === 'haven-janus');
    const tpl = join(dir, 'tpl');
    const conf = join(dir, 'conf');
    mkdirSync(tpl);
    mkdirSync(conf);
    // The image links /usr/lib/janus to the Debian multiarch folder; here we point at it directly.
    const libDir = join(
      realpathSync(
        spawnSync(
          'sh',
          ['-c', 'dirname "$(dpkg -L janus | grep \'/janus/plugins/libjanus_videoroom.so$\')"'],
          { encoding: 'utf8' },
        ).stdout.trim(),
      ),
      '..',
    );
    // The websockets speak TLS only (mtls, the default): the `janus` certificate as the chart mounts it.
    const pki = await ensureDevPki({ dir: join(dir, 'pki'), workloads: ['janus'] });
    const tlsDir = join(dir, 'tls');
    mkdirSync(tlsDir);
    copyFileSync(pki.files('janus').certFile, join(tlsDir, 'tls.crt'));
    copyFileSync(pki.files('janus').keyFile, join(tlsDir, 'tls.key'));
    for (const [name, text] of Object.entries(cm?.data as Record<string, string>)) {
      writeFileSync(
        join(tpl, name),
        name.endsWith('.jcfg')
          ? text.replaceAll('/usr/lib/janus', libDir).replaceAll('/etc/janus/tls/', `${tlsDir}/`)
          : text,
      );
    }
    expect(cm?.data['janus.transport.websockets.jcfg']).toMatch(/admin_wss = true/);
    const script = readFileSync(join(tpl, 'render-config.sh'), 'utf8')
      .replaceAll('/etc/janus-template', tpl)
      .replaceAll('/run/janus/conf', conf);
    writeFileSync(join(dir, 'render.sh'), script);
    const adminSecret = 'AdminSecret_0123456789-base64url';
    const bad = spawnSync('sh', [join(dir, 'render.sh')], {
      env: {
        ...process.env,
        JANUS_ADMIN_SECRET: 'has "quotes" in it',
        JANUS_TOKEN_SECRET: 'x'.repeat(20),
        JANUS_EVENTS_SECRET: 'y'.repeat(20),
      },
      encoding: 'utf8',
    });
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toContain('JANUS_ADMIN_SECRET contains characters outside');
    const ok = spawnSync('sh', [join(dir, 'render.sh')], {
      env: {
        ...process.env,
        JANUS_ADMIN_SECRET: adminSecret,
        JANUS_TOKEN_SECRET: 'TokenSecret-0123456789',
        JANUS_EVENTS_SECRET: 'EventsSecret-0123456789',
      },
      encoding: 'utf8',
    });
    expect(ok.stderr).toBe('');
    expect(ok.status).toBe(0);
    const rendered = readFileSync(join(conf, 'janus.jcfg'), 'utf8');
    expect(rendered).toContain(`admin_secret = "${adminSecret}"`);
    expect(rendered).toContain('token_auth = true');
    expect(readFileSync(join(conf, 'janus.eventhandler.sampleevh.jcfg'), 'utf8')).toContain(
      'backend_pwd = "EventsSecret-0123456789"',
    );

    let log = '';
    janus = spawn(
      'janus',
      [
        `--configs-folder=${conf}`,
        `--config=${join(conf, 'janus.jcfg')}`,
        '--server-name=chart-test',
        '--rtp-port-range=40000-40063',
        '--disable-colors',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    janus.stdout?.on('data', (b: Buffer) => (log += b.toString()));
    janus.stderr?.on('data', (b: Buffer) => (log += b.toString()));
    // The admin API over websockets with TLS (as janode uses it); list_sessions needs the admin secret.
    const ca = readFileSync(pki.caFile);
    const adminCall = async (secret: string): Promise<Record<string, unknown>> => {
      const client = await connectJanusWs(`wss://localhost:${adminPort}`, {
        admin: true,
        timeoutMs: 1000,
        ca,
      });
      try {
        const { transaction: _t, ...rest } = await client.request({
          janus: 'list_sessions',
          admin_secret: secret,
        });
        return rest;
      } finally {
        client.close();
      }
    };
    let answer: unknown;
    const deadline = Date.now() + 15_000;
    for (let i = 0; i < 150 && Date.now() < deadline && answer === undefined; i++) {
      if (janus.exitCode !== null) break;
      answer = await adminCall(adminSecret).catch(() => undefined);
      if (answer === undefined) await new Promise((r) => setTimeout(r, 100));
    }
    expect({ answer, log: answer === undefined ? log : '' }).toEqual({
      answer: { janus: 'success', sessions: [] },
      log: '',
    });
    expect(await adminCall('wrong-secret')).toMatchObject({ janus: 'error' });
    // Plaintext is not served at all.
    await expect(
      connectJanusWs(`ws://127.0.0.1:${adminPort}`, { admin: true, timeoutMs: 1000 }),
    ).rejects.toThrow();
    expect(log).toContain("Loading plugin 'libjanus_videoroom.so'");
    expect(log).toContain('JANUS SampleEventHandler plugin initialized');
    expect(log).not.toContain("libjanus_echotest.so'...");
  });
});

describe('OpenTelemetry collector, dashboards, alerts', () => {
  const collector = parseYaml(
    readFileSync(join(ROOT, 'deploy', 'otel', 'collector.yaml'), 'utf8'),
  ) as K8sObject;

  it('deploy/otel, deploy/grafana and deploy/prometheus are the files the chart ships', () => {
    expect(realpathSync(join(ROOT, 'deploy', 'otel', 'collector.yaml'))).toBe(
      join(CHART, 'files', 'otel', 'collector.yaml'),
    );
    expect(realpathSync(join(ROOT, 'deploy', 'grafana'))).toBe(join(CHART, 'files', 'grafana'));
    expect(realpathSync(join(ROOT, 'deploy', 'prometheus', 'alerts.yaml'))).toBe(
      join(CHART, 'files', 'prometheus', 'alerts.yaml'),
    );
  });

  it('every pipeline: memory_limiter first, the allow-list, batch last; redaction drops unlisted span keys', () => {
    for (const name of ['traces', 'metrics', 'logs']) {
      const p = collector.service.pipelines[name].processors as string[];
      expect(p[0]).toBe('memory_limiter');
      expect(p).toContain('transform/allowlist');
      expect(p[p.length - 1]).toBe('batch');
      expect(collector.service.pipelines[name].receivers).toEqual(['otlp']);
    }
    expect(collector.service.pipelines.traces.processors).toContain('redaction');
    expect(collector.processors.redaction.allow_all_keys).toBe(false);
  });

  it("the allow-lists are the services' own (semconv ALLOWED_ATTRIBUTES)", () => {
    const expected = [...ALLOWED_ATTRIBUTES].sort();
    expect([...(collector.processors.redaction.allowed_keys as string[])].sort()).toEqual(expected);
    const t = collector.processors['transform/allowlist'];
    const listOf = (statements: K8sObject[], context: string): string[] => {
      const stmt = String(statements.find((x) => x.context === context)?.statements[0]);
      return JSON.parse(stmt.slice(stmt.indexOf('['), stmt.lastIndexOf(']') + 1)) as string[];
    };
    expect(listOf(t.trace_statements, 'span').sort()).toEqual(expected);
    expect(listOf(t.metric_statements, 'datapoint').sort()).toEqual(expected);
    expect(listOf(t.log_statements, 'log').sort()).toEqual(expected);
  });

  it('the allow-lists name no PHI-bearing attribute', () => {
    const keys = [
      ...(collector.processors.redaction.allowed_keys as string[]),
      ...JSON.stringify(collector.processors['transform/allowlist']).matchAll(/\\"([a-z0-9_.]+)\\"/g),
    ].map((k) => (typeof k === 'string' ? k : k[1]!));
    expect(keys.length).toBeGreaterThan(40);
    const phi =
      /(email|phone|birth|dob|(home|street|postal|mailing)[._]?address|patient|mrn|ssn|diagnos|reason$|note|passcode|token|user\.id|enduser|url\.full|url\.query|http\.url|db\.statement|exception\.message|display_name|given_name|family_name)/i;
    expect(keys.filter((k) => phi.test(k))).toEqual([]);
    // "name" keys may only name software and infrastructure, never a person.
    const structural = new Set([
      'service.name',
      'host.name',
      'k8s.pod.name',
      'k8s.node.name',
      'k8s.namespace.name',
      'process.runtime.name',
      'telemetry.sdk.name',
      'network.protocol.name',
      'deployment.environment.name',
      'messaging.destination.name',
    ]);
    expect(keys.filter((k) => /name$/.test(k) && !structural.has(k))).toEqual([]);
  });

  it('the chart swaps in the debug exporter when no upstream endpoint is set', () => {
    ensureHelm();
    const objs = template();
    const cfg = parseYaml(
      objs.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'haven-otel-collector')?.data[
        'collector.yaml'
      ],
    ) as K8sObject;
    expect(cfg.exporters.otlp).toBeUndefined();
    for (const name of ['traces', 'metrics', 'logs'])
      expect(cfg.service.pipelines[name].exporters).toEqual(['debug']);
    expect(cfg.processors).toEqual(collector.processors);
  });

  it('alert rules cover break-glass, audit verification, the event store watch, consumer lag and down, and Janus node down', () => {
    const rules = (
      parseYaml(readFileSync(join(ROOT, 'deploy', 'prometheus', 'alerts.yaml'), 'utf8')) as K8sObject
    ).groups.flatMap((g: K8sObject) => g.rules);
    const names = rules.map((r: K8sObject) => r.alert);
    expect(names).toEqual(
      expect.arrayContaining([
        'HavenBreakGlassUsed',
        'HavenAuditVerificationFailed',
        'HavenAuditStoreIntegrityViolated',
        'HavenAuditStoreWatchStale',
        'HavenConsumerLagHigh',
        'HavenConsumerDown',
        'HavenJanusNodeDown',
      ]),
    );
    for (const r of rules) {
      expect(typeof r.expr).toBe('string');
      expect(['warning', 'critical']).toContain(r.labels.severity);
      expect(r.annotations.summary).toEqual(expect.any(String));
    }
  });

  it('dashboards show RPC RED per service, consumer lag, Janus rooms/participants, admit latency, recording queue, audit ledger', () => {
    const text = ['haven-rpc.json', 'haven-operations.json']
      .map((f) => readFileSync(join(ROOT, 'deploy', 'grafana', f), 'utf8'))
      .join('\n');
    for (const metric of [
      'haven_rpc_duration_milliseconds_count',
      'haven_rpc_duration_milliseconds_bucket',
      'haven_consumer_lag_events',
      'haven_consumer_up',
      'haven_janus_rooms',
      'haven_janus_participants',
      'haven_session_admit_duration_seconds_bucket',
      'haven_recording_queue_depth',
      'haven_audit_ledger_size_events',
      'haven_audit_last_verification_timestamp_seconds',
      'haven_audit_store_integrity_violations_total',
    ]) {
      expect(text).toContain(metric);
    }
  });
});
