// The chart's NATS security, rendered by the real helm and run on a real nats-server: the users and subject
// permissions (files/nats/permissions.json, the code's table), the passwords and bcrypt hashes the chart
// generates once, the provisioning Job (its own command and environment, the operator credential), the
// services' credentials, and TLS on the client port.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, headers as natsHeaders, type NatsConnection } from 'nats';
import {
  HAVEN_SERVICE_USERS,
  HAVEN_STREAMS,
  HavenStream,
  connectNats,
  encodeEnvelope,
  natsPermissionTable,
  newEvent,
  verifyHavenStreams,
} from '@haven/eventstore';
import { loadNatsProvisionConfig } from '@haven/service';
import { freePort } from '@haven/testing';
import {
  CHART,
  ROOT,
  SCENARIOS,
  ensureHelm,
  helm,
  secretValue,
  selects,
  template,
  valuesArgs,
  type K8sObject,
} from './helm-support';

jest.setTimeout(120_000);

const find = (objs: readonly K8sObject[], kind: string, name: string): K8sObject | undefined =>
  objs.find((o) => o.kind === kind && o.metadata?.name === name);
const envOf = (c: K8sObject, name: string): K8sObject | undefined =>
  (c.env ?? []).find((e: K8sObject) => e.name === name);

/** A nats-server started on 127.0.0.1 with `files` written beside its config (the rendered includes). */
async function startServer(
  config: string,
  files: Record<string, string>,
  env: Record<string, string>,
): Promise<{ url: string; port: number; dir: string; stop(): Promise<void>; log(): string }> {
  const dir = mkdtempSync(join(tmpdir(), 'haven-chart-nats-'));
  const port = await freePort();
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text, { mode: 0o600 });
  const file = join(dir, 'nats.conf');
  writeFileSync(
    file,
    `listen: "127.0.0.1:${port}"\njetstream { store_dir: ${JSON.stringify(dir)} }\n${config}\n`,
    { mode: 0o600 },
  );
  const child: ChildProcess = spawn('nats-server', ['-c', file], {
    env: { PATH: process.env['PATH'] ?? '', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr?.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  for (let i = 0; i < 200 && !log.includes('Server is ready'); i++) {
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  if (!log.includes('Server is ready')) {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`nats-server did not start with the chart's configuration:\n${log.slice(-3000)}`);
  }
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    dir,
    log: () => log,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Publishes a well-formed event of `context` on its event-store subject and waits for JetStream's ack. */
async function publishEvent(nc: NatsConnection, context: string): Promise<unknown> {
  const event = newEvent({ type: 'haven.test.v1.Probed', data: {}, actor: { kind: 'service', id: 'test' } });
  const h = natsHeaders();
  h.set('Haven-Revision', '0');
  return nc
    .jetstream()
    .publish(
      `haven.es.${context}.probe.p-${event.id}`,
      encodeEnvelope({ ...event, stream: `${context}.probe-p-${event.id}`, revision: 0n }),
      { msgID: event.id, headers: h, timeout: 3_000 },
    );
}

let objs: K8sObject[];
beforeAll(() => {
  ensureHelm();
  // Users and permissions on a plaintext server here; client certificates are tests/helm/mtls.int.spec.ts's.
  objs = template([], ['mtls.enabled=false']);
});

describe('files/nats/permissions.json', () => {
  it('is the permission table of the code (regenerate it from natsPermissionsJson() when this fails)', () => {
    const file = JSON.parse(readFileSync(join(CHART, 'files', 'nats', 'permissions.json'), 'utf8'));
    expect(file).toEqual(natsPermissionTable());
  });
});

describe('the bundled NATS: users, permissions and the provisioning Job on a real nats-server', () => {
  it('renders auth.conf and a generated-once secret that nats-server accepts; every service is held to its context', async () => {
    const cm = find(objs, 'ConfigMap', 'haven-nats');
    const natsConf = String(cm?.data['nats.conf']);
    expect(natsConf).toMatch(/^include \.\/auth\.conf$/m);
    expect(natsConf).not.toMatch(/no_auth_user/);
    const secret = find(objs, 'Secret', 'haven-nats-auth');
    expect(secret?.metadata.annotations).toEqual(
      expect.objectContaining({ 'helm.sh/resource-policy': 'keep', 'haven.io/generated-once': 'true' }),
    );
    const users = ['operator', ...HAVEN_SERVICE_USERS];
    // The NATS pods read the hashes (never the passwords) from the secret.
    const sts = find(objs, 'StatefulSet', 'haven-nats')?.spec.template.spec.containers[0];
    const env: Record<string, string> = {};
    for (const user of users) {
      const v = `HAVEN_NATS_${user.toUpperCase()}_BCRYPT`;
      expect(envOf(sts, v)?.valueFrom.secretKeyRef).toEqual({
        name: 'haven-nats-auth',
        key: `${user}-bcrypt`,
      });
      env[v] = secretValue(secret, `${user}-bcrypt`);
      expect(env[v]).toMatch(/^\$2[aby]\$\d\d\$/);
      expect(secretValue(secret, `${user}-password`).length).toBeGreaterThanOrEqual(32);
    }
    expect((sts.env as K8sObject[]).some((e) => /PASSWORD/.test(String(e.name)))).toBe(false);

    const server = await startServer(
      'include ./auth.conf',
      { 'auth.conf': String(cm?.data['auth.conf']) },
      env,
    );
    try {
      await expect(connect({ servers: server.url, reconnect: false })).rejects.toThrow(
        /Authorization Violation/,
      );
      await expect(
        connect({ servers: server.url, user: 'identity', pass: 'a-guess', reconnect: false }),
      ).rejects.toThrow(/Authorization Violation/);

      // A service's password cannot provision: the Job's program with the gateway's credential fails, saying why.
      const denied = spawnSync(
        process.execPath,
        [join(ROOT, 'packages', 'service', 'dist', 'nats-provision-main.js')],
        {
          env: {
            PATH: process.env['PATH'] ?? '',
            NATS_URL: server.url,
            NATS_USER: 'gateway',
            NATS_PASSWORD: secretValue(secret, 'gateway-password'),
            HAVEN_PROVISION_TIMEOUT_SEC: '1',
          },
          encoding: 'utf8',
          timeout: 60_000,
        },
      );
      expect(denied.status).toBe(1);
      expect(denied.stderr).toMatch(
        /Permissions Violation for Publish to "\$JS\.API\.STREAM\.CREATE\.HAVEN_ES"/,
      );
      // The provisioning Job, as rendered: its command, and its environment with the secret's operator password.
      const job = objs.find((o) => o.kind === 'Job' && o.metadata.name.startsWith('haven-nats-provision-'));
      const jc = job?.spec.template.spec.containers[0];
      expect(jc.args).toEqual(['packages/service/dist/nats-provision-main.js']);
      const jobEnv: Record<string, string> = {};
      for (const e of jc.env as K8sObject[]) {
        jobEnv[e.name] =
          e.value ??
          secretValue(find(objs, 'Secret', e.valueFrom.secretKeyRef.name), e.valueFrom.secretKeyRef.key);
      }
      expect(jobEnv['NATS_USER']).toBe('operator');
      expect(jobEnv['NATS_URL']).toBe('nats://haven-nats:4222');
      expect(jobEnv['HAVEN_JETSTREAM_REPLICAS']).toBe('3');
      expect(() => loadNatsProvisionConfig(jobEnv)).not.toThrow();
      // Here a single server: one replica, and the address of the test's server.
      const run = spawnSync(
        process.execPath,
        [join(ROOT, 'packages', 'service', 'dist', 'nats-provision-main.js')],
        {
          env: {
            PATH: process.env['PATH'] ?? '',
            ...jobEnv,
            NATS_URL: server.url,
            HAVEN_JETSTREAM_REPLICAS: '1',
            HAVEN_PROVISION_TIMEOUT_SEC: '20',
          },
          encoding: 'utf8',
          timeout: 60_000,
        },
      );
      expect({ status: run.status, stderr: run.stderr }).toEqual({ status: 0, stderr: '' });
      expect(run.stdout).toMatch(/stream HAVEN_ES created/);

      for (const user of HAVEN_SERVICE_USERS) {
        const deployment = find(objs, 'Deployment', `haven-${user}`)?.spec.template.spec.containers[0];
        expect(envOf(deployment, 'NATS_USER')?.value).toBe(user);
        expect(envOf(deployment, 'NATS_PASSWORD')?.valueFrom.secretKeyRef).toEqual({
          name: 'haven-nats-auth',
          key: `${user}-password`,
        });
        const nc = await connectNats({
          servers: server.url,
          name: `chart-${user}`,
          user,
          pass: secretValue(secret, `${user}-password`),
        });
        try {
          const jsm = await nc.jetstreamManager();
          const checked = await verifyHavenStreams(jsm, Object.values(HavenStream));
          expect(checked.map((c) => [c.stream, c.problems])).toEqual(HAVEN_STREAMS.map((s) => [s.name, []]));
          await expect(publishEvent(nc, user)).resolves.toBeDefined();
          const other = HAVEN_SERVICE_USERS.find((u) => u !== user)!;
          await expect(publishEvent(nc, other)).rejects.toThrow(/Permissions Violation/);
          await expect(jsm.streams.delete('HAVEN_ES')).rejects.toThrow(/Permissions Violation/);
          await expect(jsm.streams.purge('HAVEN_BUS')).rejects.toThrow(/Permissions Violation/);
        } finally {
          await nc.close();
        }
      }
    } finally {
      await server.stop();
    }
  });

  it('the provisioning Job reaches NATS (and only NATS and DNS) through the NetworkPolicies', () => {
    const job = objs.find((o) => o.kind === 'Job' && o.metadata.name.startsWith('haven-nats-provision-'));
    const labels = job?.spec.template.metadata.labels as Record<string, string>;
    /** True when one of `rules` lets in (`from`) or out (`to`) a pod with `peer` labels on TCP 4222. */
    const opens4222 = (rules: K8sObject[] | undefined, side: 'from' | 'to', peer: Record<string, string>) =>
      (rules ?? []).some(
        (r: K8sObject) =>
          r[side]?.some((p: K8sObject) => selects(p.podSelector, peer)) &&
          r.ports.some((p: K8sObject) => p.port === 4222),
      );
    const own = find(objs, 'NetworkPolicy', 'haven-nats-provision');
    expect(selects(own?.spec.podSelector, labels)).toBe(true);
    expect(own?.spec.ingress).toEqual([]);
    const natsLabels = find(objs, 'StatefulSet', 'haven-nats')?.spec.template.metadata.labels;
    expect(opens4222(own?.spec.egress, 'to', natsLabels)).toBe(true);
    expect(opens4222(find(objs, 'NetworkPolicy', 'haven-nats')?.spec.ingress, 'from', labels)).toBe(true);
    // A revision-named Job (Jobs are immutable), removed after it finished.
    expect(template([], [], 'haven').find((o) => o.kind === 'Job')?.metadata.name).toBe(
      'haven-nats-provision-1',
    );
    expect(job?.spec.ttlSecondsAfterFinished).toBeGreaterThan(0);
  });

  it('uses the hospital’s secret instead of generating one', () => {
    const mine = template([], ['nats.auth.existingSecret="hospital-nats-users"']);
    expect(mine.filter((o) => o.kind === 'Secret').map((o) => o.metadata.name)).not.toContain(
      'haven-nats-auth',
    );
    const c = find(mine, 'Deployment', 'haven-audit')?.spec.template.spec.containers[0];
    expect(envOf(c, 'NATS_PASSWORD')?.valueFrom.secretKeyRef).toEqual({
      name: 'hospital-nats-users',
      key: 'audit-password',
    });
    const sts = find(mine, 'StatefulSet', 'haven-nats')?.spec.template.spec.containers[0];
    expect(envOf(sts, 'HAVEN_NATS_AUDIT_BCRYPT')?.valueFrom.secretKeyRef.name).toBe('hospital-nats-users');
  });
});

describe('the hospital’s own NATS (creds files)', () => {
  it('gives each service the inbox prefix its permissions allow, and provisions nothing itself', () => {
    const hospital = template([SCENARIOS.hospital]);
    expect(hospital.find((o) => o.kind === 'Job')).toBeUndefined();
    const table = natsPermissionTable();
    for (const user of HAVEN_SERVICE_USERS) {
      const c = find(hospital, 'Deployment', `haven-${user}`)?.spec.template.spec.containers[0];
      expect(envOf(c, 'NATS_USER')).toBeUndefined();
      const prefix = String(envOf(c, 'NATS_INBOX_PREFIX')?.value);
      expect(table[user].subscribe.allow).toEqual([`${prefix}.>`]);
    }
  });
});

describe('TLS on the NATS client port', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'haven-nats-tls-'));
    const sh = (args: string[]) => {
      const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
    };
    sh([
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=haven test CA',
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
    ]);
    sh([
      'req',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-subj',
      '/CN=127.0.0.1',
      '-keyout',
      'tls.key',
      '-out',
      'tls.csr',
    ]);
    writeFileSync(
      join(dir, 'ext.cnf'),
      'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:haven-nats\nextendedKeyUsage=serverAuth\n',
    );
    sh([
      'x509',
      '-req',
      '-in',
      'tls.csr',
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '1',
      '-extfile',
      'ext.cnf',
      '-out',
      'tls.crt',
    ]);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('small clinic: cert-manager issues the certificate; services connect with tls:// and trust its CA', () => {
    const clinic = template([SCENARIOS['small-clinic']]);
    const cert = find(clinic, 'Certificate', 'haven-nats-tls');
    expect(cert?.spec.secretName).toBe('haven-nats-tls');
    expect(cert?.spec.issuerRef).toEqual({
      name: 'clinic-internal-ca',
      kind: 'ClusterIssuer',
      group: 'cert-manager.io',
    });
    expect(cert?.spec.dnsNames).toEqual(
      expect.arrayContaining(['haven-nats', 'haven-nats.haven.svc', '*.haven-nats-headless.haven.svc']),
    );
    const cm = find(clinic, 'ConfigMap', 'haven-nats');
    expect(String(cm?.data['nats.conf'])).toMatch(/^include \.\/tls\.conf$/m);
    const sts = find(clinic, 'StatefulSet', 'haven-nats')?.spec.template.spec;
    expect(sts.volumes.find((v: K8sObject) => v.name === 'tls')?.secret.secretName).toBe('haven-nats-tls');
    for (const d of clinic.filter(
      (o) => o.kind === 'Deployment' && o.spec.template.metadata.labels['haven.io/service'],
    )) {
      const c = d.spec.template.spec.containers[0];
      expect(envOf(c, 'NATS_URL')?.value).toBe('tls://haven-nats:4222');
      expect(envOf(c, 'NATS_TLS_CA_FILE')?.value).toBe('/etc/haven/nats-ca/ca.crt');
      const vol = d.spec.template.spec.volumes.find((v: K8sObject) => v.name === 'nats-ca');
      expect(vol?.secret).toEqual(
        expect.objectContaining({ secretName: 'haven-nats-tls', items: [{ key: 'ca.crt', path: 'ca.crt' }] }),
      );
    }
    const job = clinic.find((o) => o.kind === 'Job')?.spec.template.spec.containers[0];
    expect(envOf(job, 'NATS_TLS_CA_FILE')?.value).toBe('/etc/haven/nats-ca/ca.crt');
  });

  it('the rendered tls.conf on a real nats-server: a client verifying the CA connects; plain text and an untrusted client do not', async () => {
    // Server TLS alone (client certificates are the mtls spec's business).
    const clinic = template(
      [],
      ['nats.tls.enabled=true', 'nats.tls.existingSecret="haven-nats-cert"', 'mtls.enabled=false'],
    );
    expect(clinic.find((o) => o.kind === 'Certificate')).toBeUndefined();
    const cm = find(clinic, 'ConfigMap', 'haven-nats');
    const secret = find(clinic, 'Secret', 'haven-nats-auth');
    const tlsConf = String(cm?.data['tls.conf']).replaceAll('/etc/nats/tls/', `${dir}/`);
    const env: Record<string, string> = {};
    for (const user of ['operator', ...HAVEN_SERVICE_USERS]) {
      env[`HAVEN_NATS_${user.toUpperCase()}_BCRYPT`] = secretValue(secret, `${user}-bcrypt`);
    }
    const server = await startServer(
      'include ./auth.conf\ninclude ./tls.conf',
      { 'auth.conf': String(cm?.data['auth.conf']), 'tls.conf': tlsConf },
      env,
    );
    try {
      const creds = { user: 'audit', pass: secretValue(secret, 'audit-password') };
      const nc = await connectNats({
        servers: `tls://127.0.0.1:${server.port}`,
        name: 'chart-tls',
        ...creds,
        tlsCaFile: join(dir, 'ca.crt'),
      });
      expect(nc.info?.tls_required).toBe(true);
      await nc.close();
      // Without the CA (the system's roots do not know it): refused.
      await expect(
        connect({ servers: `tls://127.0.0.1:${server.port}`, ...creds, reconnect: false }),
      ).rejects.toThrow();
      // Plain text: the server requires TLS.
      await expect(
        connect({ servers: `nats://127.0.0.1:${server.port}`, ...creds, tls: null, reconnect: false }),
      ).rejects.toThrow();
    } finally {
      await server.stop();
    }
  });
});

describe('impossible NATS combinations fail with a clear message', () => {
  const cases: [string, string[], RegExp][] = [
    ['TLS without a certificate', ['nats.tls.enabled=true'], /nats\.tls\.enabled needs a certificate/],
    [
      'cert-manager without an issuer',
      ['nats.tls.enabled=true', 'nats.tls.certManager.enabled=true'],
      /needs nats\.tls\.certManager\.issuerRef\.name/,
    ],
    [
      'provisioning your own NATS without an operator password',
      ['nats.bundled=false', 'nats.external.url="nats://nats.example:4222"'],
      /nats\.provisioning\.enabled with your own NATS needs nats\.auth\.existingSecret/,
    ],
  ];
  it.each(cases)('%s', (_name, setJson, message) => {
    const r = helm(['template', 'haven', CHART, ...valuesArgs([], setJson)]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(message);
  });
});
