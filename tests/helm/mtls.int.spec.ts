/**
 * Mutual TLS in the chart (mtls), rendered by the real helm: a cert-manager Certificate per workload naming it
 * in a spiffe URI SAN (or the secrets the hospital provides), every service mounting its own certificate with
 * the HAVEN_TLS_* variables, probes on the plaintext health-only port, the bundled NATS verifying client
 * certificates (checked on a real nats-server with the rendered configuration), Janus's websockets over TLS.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'nats';
import { HAVEN_SERVICE_USERS } from '@haven/eventstore';
import { ensureDevPki, freePort, type DevPki } from '@haven/testing';
import {
  ensureHelm,
  notes,
  secretValue,
  serviceContainer,
  template,
  validateK8s,
  type K8sObject,
} from './helm-support';

const WORKLOADS = [
  'audit',
  'gateway',
  'identity',
  'recording',
  'scheduling',
  'session',
  'operator',
  'nats',
  'janus',
];
const GRPC_SERVICES = ['identity', 'scheduling', 'session', 'recording', 'audit'];

const find = (objs: readonly K8sObject[], kind: string, name: string): K8sObject | undefined =>
  objs.find((o) => o.kind === kind && o.metadata?.name === name);
const envOf = (c: K8sObject, name: string): string | undefined =>
  (c.env as K8sObject[]).find((e) => e.name === name)?.value as string | undefined;

beforeAll(() => ensureHelm());

describe('mtls with cert-manager (the default)', () => {
  let objs: K8sObject[];
  beforeAll(() => {
    objs = template();
  });

  it('bootstraps a private CA and issues each workload a certificate naming it', () => {
    expect(find(objs, 'Issuer', 'haven-mtls-ca-root')?.spec).toEqual({ selfSigned: {} });
    expect(find(objs, 'Certificate', 'haven-mtls-ca')?.spec).toMatchObject({
      isCA: true,
      secretName: 'haven-mtls-ca',
    });
    expect(find(objs, 'Issuer', 'haven-mtls-ca')?.spec).toEqual({ ca: { secretName: 'haven-mtls-ca' } });
    const certs = objs.filter((o) => o.kind === 'Certificate' && o.metadata.labels['haven.io/workload']);
    expect(certs.map((c) => c.metadata.labels['haven.io/workload']).sort()).toEqual([...WORKLOADS].sort());
    for (const cert of certs) {
      const workload = cert.metadata.labels['haven.io/workload'] as string;
      expect(cert.spec.secretName).toBe(`haven-${workload}-mtls`);
      expect(cert.spec.uris).toEqual([`spiffe://haven.internal/${workload}`]);
      expect(cert.spec.usages).toEqual(['digital signature', 'server auth', 'client auth']);
      expect(cert.spec.issuerRef).toEqual({
        name: 'haven-mtls-ca',
        kind: 'Issuer',
        group: 'cert-manager.io',
      });
    }
    expect(find(objs, 'Certificate', 'haven-scheduling-mtls')?.spec.dnsNames).toEqual([
      'haven-scheduling',
      'haven-scheduling.haven.svc',
      'haven-scheduling.haven.svc.cluster.local',
    ]);
  });

  it('uses the given issuer instead of its own CA', () => {
    const given = template(
      [],
      ['mtls.certManager.issuerRef={"name":"hospital-ca","kind":"ClusterIssuer","group":"cert-manager.io"}'],
    );
    expect(given.find((o) => o.kind === 'Issuer')).toBeUndefined();
    expect(find(given, 'Certificate', 'haven-audit-mtls')?.spec.issuerRef.name).toBe('hospital-ca');
  });

  it('gives every service its own certificate, the TLS variables and probes on the health-only port', () => {
    for (const name of [...GRPC_SERVICES, 'gateway']) {
      const d = find(objs, 'Deployment', `haven-${name}`)!;
      const c = serviceContainer(objs, name);
      expect(d.spec.template.spec.volumes.find((v: K8sObject) => v.name === 'mtls')?.secret.secretName).toBe(
        `haven-${name}-mtls`,
      );
      expect(c.volumeMounts).toContainEqual({ name: 'mtls', mountPath: '/etc/haven/tls', readOnly: true });
      expect(envOf(c, 'HAVEN_TLS_CERT_FILE')).toBe('/etc/haven/tls/tls.crt');
      expect(envOf(c, 'NATS_TLS_CERT_FILE')).toBe('/etc/haven/tls/tls.crt');
      if (name === 'gateway') {
        expect(envOf(c, 'HAVEN_GRPC_HEALTH_PORT')).toBeUndefined();
        continue;
      }
      expect(envOf(c, 'HAVEN_GRPC_HEALTH_PORT')).toBe('20060');
      expect(c.readinessProbe.grpc.port).toBe(20060);
      expect(c.livenessProbe.grpc).toEqual({ port: 20060, service: 'liveness' });
    }
    const session = serviceContainer(objs, 'session');
    expect(envOf(session, 'HAVEN_JANUS_WS_URLS')).toMatch(/^wss:\/\//);
    expect(envOf(session, 'HAVEN_JANUS_ADMIN_URLS')).toMatch(/^wss:\/\//);
    expect(envOf(session, 'NODE_EXTRA_CA_CERTS')).toBe('/etc/haven/tls/ca.crt');
    const janus = String(find(objs, 'ConfigMap', 'haven-janus')?.data['janus.transport.websockets.jcfg']);
    expect(janus).toMatch(/ws = false/);
    expect(janus).toMatch(/admin_wss = true/);
    expect(janus).toContain('cert_pem = "/etc/janus/tls/tls.crt"');
    const test = objs.find((o) => o.kind === 'Pod' && o.metadata.name === 'haven-helm-test');
    expect(test?.spec.containers[0].args).toContain('haven-audit:20060');
  });

  it('renders objects Kubernetes and cert-manager accept', () => {
    const errors = validateK8s(objs.map((object, i) => ({ id: `${object.kind}/${i}`, object }))).filter(
      (r) => r.error !== null,
    );
    expect(errors).toEqual([]);
  });

  it('says so in NOTES, and warns when it is off', () => {
    expect(notes().stdout).toContain('Mutual TLS: every gRPC call between workloads uses TLS 1.3');
    expect(notes([], ['mtls.enabled=false']).stdout).toContain('WARNING: mtls.enabled is false');
  });
});

describe('mtls with the hospital’s own secrets', () => {
  const secrets = Object.fromEntries(WORKLOADS.map((w) => [w, `hospital-${w}-tls`]));

  it('mounts the given secrets and renders no Certificate', () => {
    const objs = template(
      [],
      ['mtls.certManager.enabled=false', `mtls.existingSecrets=${JSON.stringify(secrets)}`],
    );
    expect(objs.find((o) => o.kind === 'Certificate' || o.kind === 'Issuer')).toBeUndefined();
    const d = find(objs, 'Deployment', 'haven-identity');
    expect(d?.spec.template.spec.volumes.find((v: K8sObject) => v.name === 'mtls')?.secret.secretName).toBe(
      'hospital-identity-tls',
    );
    const job = objs.find((o) => o.kind === 'Job')?.spec.template.spec;
    expect(job.volumes.find((v: K8sObject) => v.name === 'mtls')?.secret.secretName).toBe(
      'hospital-operator-tls',
    );
  });

  it('refuses to render when a workload has no secret, naming it', () => {
    const { audit: _audit, ...missing } = secrets;
    expect(() =>
      template([], ['mtls.certManager.enabled=false', `mtls.existingSecrets=${JSON.stringify(missing)}`]),
    ).toThrow(/set mtls\.existingSecrets\.audit/);
  });

  it('off: plaintext gRPC, no certificates, probes on the gRPC port', () => {
    const objs = template([], ['mtls.enabled=false']);
    expect(objs.find((o) => o.kind === 'Certificate')).toBeUndefined();
    const c = serviceContainer(objs, 'scheduling');
    expect(envOf(c, 'HAVEN_TLS_CERT_FILE')).toBeUndefined();
    expect(c.readinessProbe.grpc.port).toBe(20052);
    expect(envOf(serviceContainer(objs, 'session'), 'HAVEN_JANUS_WS_URLS')).toMatch(/^ws:\/\//);
  });
});

describe('the rendered NATS configuration with mtls on a real nats-server', () => {
  let dir = '';
  let pki: DevPki;
  let server: ChildProcess | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'haven-chart-mtls-'));
    pki = await ensureDevPki({ dir: join(dir, 'pki') });
    // The files as cert-manager writes them into the `nats` secret (tls.crt, tls.key, ca.crt).
    copyFileSync(pki.files('nats').certFile, join(dir, 'tls.crt'));
    copyFileSync(pki.files('nats').keyFile, join(dir, 'tls.key'));
    copyFileSync(pki.caFile, join(dir, 'ca.crt'));
  });

  afterAll(async () => {
    if (server && server.exitCode === null) {
      const exited = new Promise((r) => server?.once('exit', r));
      server.kill('SIGKILL');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a client without a certificate of the CA, even with its password; lets the service in with one', async () => {
    const objs = template();
    const cm = find(objs, 'ConfigMap', 'haven-nats');
    const secret = find(objs, 'Secret', 'haven-nats-auth');
    const tlsConf = String(cm?.data['tls.conf']).replaceAll('/etc/nats/tls/', `${dir}/`);
    expect(tlsConf).toMatch(/verify: true/);
    const port = await freePort();
    writeFileSync(join(dir, 'auth.conf'), String(cm?.data['auth.conf']), { mode: 0o600 });
    writeFileSync(join(dir, 'tls.conf'), tlsConf, { mode: 0o600 });
    writeFileSync(
      join(dir, 'nats.conf'),
      `listen: "127.0.0.1:${port}"\ninclude ./auth.conf\ninclude ./tls.conf\n`,
      { mode: 0o600 },
    );
    const env: Record<string, string> = { PATH: process.env['PATH'] ?? '' };
    for (const user of ['operator', ...HAVEN_SERVICE_USERS]) {
      env[`HAVEN_NATS_${user.toUpperCase()}_BCRYPT`] = secretValue(secret, `${user}-bcrypt`);
    }
    server = spawn('nats-server', ['-c', join(dir, 'nats.conf')], {
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let log = '';
    server.stderr?.on('data', (d: Buffer) => (log += d.toString()));
    for (let i = 0; i < 200 && !log.includes('Server is ready'); i++) {
      if (server.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(log).toContain('Server is ready');

    const servers = `tls://127.0.0.1:${port}`;
    const creds = { user: 'audit', pass: secretValue(secret, 'audit-password') };
    await expect(
      connect({ servers, ...creds, tls: { caFile: pki.caFile }, reconnect: false, timeout: 5_000 }),
    ).rejects.toThrow();
    const own = pki.files('audit');
    const nc = await connect({
      servers,
      ...creds,
      tls: { caFile: pki.caFile, certFile: own.certFile, keyFile: own.keyFile },
      reconnect: false,
    });
    expect(nc.info?.tls_verify).toBe(true);
    await nc.close();
  });
});
