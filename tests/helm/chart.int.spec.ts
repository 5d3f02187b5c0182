// The Helm chart, rendered by the real helm binary: lint, schema, Kubernetes schema validation of
// every object, and the security/operability policy over what it renders.
import { spawnSync } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import {
  CHART,
  ROOT,
  SCENARIOS,
  ensureHelm,
  helm,
  notes,
  podSpecs,
  selects,
  template,
  validateK8s,
  valuesArgs,
  type K8sObject,
} from './helm-support';

type ScenarioName = 'default' | keyof typeof SCENARIOS;
const SCENARIO_NAMES: readonly ScenarioName[] = ['default', 'small-clinic', 'hospital', 'kurrentdb'];
const filesOf = (s: ScenarioName): string[] => (s === 'default' ? [] : [SCENARIOS[s]]);

const rendered = new Map<ScenarioName, K8sObject[]>();
const objectsOf = (s: ScenarioName): K8sObject[] => {
  const objs = rendered.get(s);
  if (objs === undefined) throw new Error(`scenario ${s} was not rendered`);
  return objs;
};
const find = (objs: readonly K8sObject[], kind: string, name: string): K8sObject | undefined =>
  objs.find((o) => o.kind === kind && o.metadata?.name === name);
const allContainers = (spec: K8sObject): K8sObject[] => [
  ...(spec.initContainers ?? []),
  ...(spec.containers ?? []),
];
const envOf = (c: K8sObject, name: string): K8sObject | undefined =>
  (c.env ?? []).find((e: K8sObject) => e.name === name);
const havenServices = (objs: readonly K8sObject[]): K8sObject[] =>
  objs.filter(
    (o) => o.kind === 'Deployment' && o.spec.template.metadata.labels['haven.io/service'] === 'true',
  );

beforeAll(() => {
  ensureHelm();
  for (const s of SCENARIO_NAMES) rendered.set(s, template(filesOf(s)));
});

describe('helm lint --strict', () => {
  it.each(SCENARIO_NAMES)('passes with the %s values', (s) => {
    const r = helm(['lint', '--strict', CHART, ...valuesArgs(filesOf(s))]);
    expect(`${r.stdout}${r.stderr}`).toContain('0 chart(s) failed');
    expect(r.status).toBe(0);
  });
});

describe('rendered objects', () => {
  it('every object of every scenario validates against the Kubernetes schemas', () => {
    const items = SCENARIO_NAMES.flatMap((s) =>
      objectsOf(s).map((object) => ({ id: `${s}: ${object.kind}/${object.metadata?.name}`, object })),
    );
    expect(items.length).toBeGreaterThan(150);
    const failures = validateK8s(items).filter((r) => r.error !== null);
    expect(failures).toEqual([]);
  });

  it('the validator itself rejects a malformed object (so the check above can fail)', () => {
    const bad = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'x' },
      spec: { replicas: 'two', selector: {}, template: {} },
    };
    const [r] = validateK8s([{ id: 'bad', object: bad }]);
    expect(r?.error).toMatch(/replicas must be integer/);
  });

  it.each(SCENARIO_NAMES)(
    '%s: one Deployment + Service + ServiceAccount per Haven service, from one helper',
    (s) => {
      const objs = objectsOf(s);
      const names = ['identity', 'scheduling', 'session', 'recording', 'audit', 'gateway'];
      for (const n of names) {
        const d = find(objs, 'Deployment', `haven-${n}`);
        expect(d).toBeDefined();
        expect(d?.spec.template.spec.containers[0].args).toEqual([`services/${n}/dist/index.js`]);
        expect(find(objs, 'Service', `haven-${n}`)).toBeDefined();
        expect(find(objs, 'ServiceAccount', `haven-${n}`)).toBeDefined();
      }
    },
  );

  it('adding a service is one values entry', () => {
    const objs = template(
      [],
      [
        'services.billing={"enabled":true,"replicas":1,"grpcPort":50060,"httpPort":0,"probe":"grpc","probePath":"/healthz","keyring":false,"janus":false,"recordings":false,"dataDir":false,"dataDirSizeLimit":"1Gi","callers":"all-services","env":{},"resources":{"requests":{"cpu":"10m","memory":"64Mi"},"limits":{"cpu":"100m","memory":"128Mi"}},"autoscaling":{"enabled":false,"minReplicas":1,"maxReplicas":1,"targetCPUUtilizationPercentage":70},"pdbMinAvailable":1}',
      ],
    );
    const d = find(objs, 'Deployment', 'haven-billing');
    expect(d?.spec.template.spec.containers[0].args).toEqual(['services/billing/dist/index.js']);
    expect(find(objs, 'Service', 'haven-billing')?.spec.ports[0].port).toBe(50060);
    expect(find(objs, 'NetworkPolicy', 'haven-billing')).toBeDefined();
    const gw = find(objs, 'Deployment', 'haven-gateway');
    expect(envOf(gw?.spec.template.spec.containers[0], 'HAVEN_BILLING_GRPC_ADDR')?.value).toBe(
      'haven-billing:50060',
    );
  });
});

describe.each(SCENARIO_NAMES)('security policy (%s)', (s) => {
  it('every container runs non-root, read-only, without capabilities or privilege escalation, with RuntimeDefault seccomp', () => {
    const problems: string[] = [];
    for (const { owner, spec } of podSpecs(objectsOf(s))) {
      const pod = spec.securityContext ?? {};
      for (const c of allContainers(spec)) {
        const sc = c.securityContext ?? {};
        const where = `${owner} ${c.name}`;
        if ((sc.runAsNonRoot ?? pod.runAsNonRoot) !== true) problems.push(`${where}: runAsNonRoot`);
        if ((sc.runAsUser ?? pod.runAsUser ?? 0) === 0) problems.push(`${where}: runAsUser 0 or unset`);
        if (sc.readOnlyRootFilesystem !== true) problems.push(`${where}: readOnlyRootFilesystem`);
        if (sc.allowPrivilegeEscalation !== false) problems.push(`${where}: allowPrivilegeEscalation`);
        if (sc.privileged === true) problems.push(`${where}: privileged`);
        if (!(sc.capabilities?.drop ?? []).includes('ALL')) problems.push(`${where}: capabilities.drop ALL`);
        if (sc.capabilities?.add !== undefined) problems.push(`${where}: capabilities.add`);
        if ((sc.seccompProfile?.type ?? pod.seccompProfile?.type) !== 'RuntimeDefault')
          problems.push(`${where}: seccomp`);
        for (const kind of ['requests', 'limits']) {
          for (const r of ['cpu', 'memory']) {
            if (c.resources?.[kind]?.[r] === undefined) problems.push(`${where}: resources.${kind}.${r}`);
          }
        }
      }
      if (spec.automountServiceAccountToken !== false)
        problems.push(`${owner}: automountServiceAccountToken`);
      if (spec.hostNetwork === true || spec.hostPID === true || spec.hostIPC === true)
        problems.push(`${owner}: host namespaces`);
      for (const v of spec.volumes ?? [])
        if (v.hostPath !== undefined) problems.push(`${owner}: hostPath volume ${v.name}`);
    }
    expect(problems).toEqual([]);
  });

  it('a writable /tmp emptyDir backs every read-only main container', () => {
    for (const { owner, spec } of podSpecs(objectsOf(s))) {
      for (const c of spec.containers) {
        const tmp = (c.volumeMounts ?? []).find((m: K8sObject) => m.mountPath === '/tmp');
        expect({ owner, container: c.name, tmp: tmp !== undefined }).toEqual({
          owner,
          container: c.name,
          tmp: true,
        });
        const vol = (spec.volumes ?? []).find((v: K8sObject) => v.name === tmp?.name);
        expect(vol?.emptyDir).toBeDefined();
      }
    }
  });

  it('every ServiceAccount has automountServiceAccountToken false, and each Haven service has its own', () => {
    const sas = objectsOf(s).filter((o) => o.kind === 'ServiceAccount');
    expect(sas.length).toBeGreaterThanOrEqual(6);
    for (const sa of sas)
      expect({ name: sa.metadata.name, automount: sa.automountServiceAccountToken }).toEqual({
        name: sa.metadata.name,
        automount: false,
      });
    const used = havenServices(objectsOf(s)).map((d) => d.spec.template.spec.serviceAccountName);
    expect(new Set(used).size).toBe(used.length);
  });

  it('a default-deny NetworkPolicy selects every pod, and every pod also has an allow policy of its own', () => {
    const objs = objectsOf(s);
    const policies = objs.filter((o) => o.kind === 'NetworkPolicy');
    const denyAll = policies.filter(
      (p) =>
        p.spec.policyTypes?.includes('Ingress') &&
        p.spec.policyTypes?.includes('Egress') &&
        p.spec.ingress === undefined &&
        p.spec.egress === undefined,
    );
    expect(denyAll).toHaveLength(1);
    const pods = podSpecs(objs);
    expect(pods.length).toBeGreaterThanOrEqual(8);
    for (const { owner, labels } of pods) {
      expect({ owner, denied: selects(denyAll[0]?.spec.podSelector, labels) }).toEqual({
        owner,
        denied: true,
      });
      const allow = policies.filter((p) => p !== denyAll[0] && selects(p.spec.podSelector, labels));
      expect({ owner, allowPolicies: allow.length > 0 }).toEqual({ owner, allowPolicies: true });
    }
  });

  it('no plaintext secrets: only generated-once Secrets, and secret-looking env vars come from secretKeyRef', () => {
    const objs = objectsOf(s);
    for (const sec of objs.filter((o) => o.kind === 'Secret')) {
      expect(sec.stringData).toBeUndefined();
      expect(sec.metadata.annotations?.['haven.io/generated-once']).toBe('true');
      expect(sec.metadata.annotations?.['helm.sh/resource-policy']).toBe('keep');
    }
    for (const { owner, spec } of podSpecs(objs)) {
      for (const c of allContainers(spec)) {
        for (const e of c.env ?? []) {
          if (/SECRET|PASSWORD|TOKEN|CREDENTIAL|PRIVATE|KURRENTDB_URL|AUTHORIZATION/.test(e.name)) {
            expect({ owner, env: e.name, literal: e.value !== undefined }).toEqual({
              owner,
              env: e.name,
              literal: false,
            });
            expect(e.valueFrom?.secretKeyRef?.name).toEqual(expect.any(String));
          }
        }
      }
    }
    for (const cm of objs.filter((o) => o.kind === 'ConfigMap')) {
      const text = JSON.stringify(cm.data);
      expect(text).not.toMatch(/admin_secret = "(?!@ADMIN_SECRET@)/);
      expect(text).not.toMatch(/token_auth_secret = "(?!@TOKEN_SECRET@)/);
    }
  });

  it('every Haven service container has gRPC (or, for the gateway, HTTP) readiness, liveness and startup probes; gRPC readiness asks the whole server, liveness and start-up ask `liveness`', () => {
    const deployments = havenServices(objectsOf(s));
    expect(deployments).toHaveLength(6);
    for (const d of deployments) {
      const c = d.spec.template.spec.containers[0];
      // With mutual TLS (the default) the kubelet probes the plaintext health-only port.
      const grpcPort = Number(
        envOf(c, 'HAVEN_GRPC_HEALTH_PORT')?.value ?? envOf(c, 'HAVEN_GRPC_PORT')?.value ?? 0,
      );
      for (const probe of ['readinessProbe', 'livenessProbe', 'startupProbe']) {
        if (d.metadata.name === 'haven-gateway') expect(c[probe]?.httpGet?.path).toBe('/healthz');
        else
          expect({
            d: d.metadata.name,
            probe,
            port: c[probe]?.grpc?.port,
            service: c[probe]?.grpc?.service,
          }).toEqual({
            d: d.metadata.name,
            probe,
            port: grpcPort,
            service: probe === 'readinessProbe' ? undefined : 'liveness',
          });
      }
    }
    // Long-running workloads only: a Pod (helm test) or a Job (the NATS provisioning) runs to completion.
    const longRunning = podSpecs(objectsOf(s)).filter(
      (p) => !p.owner.startsWith('Pod/') && !p.owner.startsWith('Job/'),
    );
    for (const { owner, spec } of longRunning) {
      for (const c of spec.containers) {
        expect({ owner, ready: c.readinessProbe !== undefined, live: c.livenessProbe !== undefined }).toEqual(
          { owner, ready: true, live: true },
        );
      }
    }
  });

  it('services roll without losing capacity (Recreate only for one-pod data volumes), spread over nodes and zones, and have PDBs and HPAs', () => {
    const objs = objectsOf(s);
    for (const d of havenServices(objs)) {
      const name = d.metadata.name as string;
      const claim = d.spec.template.spec.volumes.find((v: K8sObject) => v.name === 'data')
        ?.persistentVolumeClaim?.claimName;
      const pvc = claim === undefined ? undefined : find(objs, 'PersistentVolumeClaim', claim);
      const onePodVolume =
        pvc !== undefined && (name === 'haven-identity' || !pvc.spec.accessModes.includes('ReadWriteMany'));
      if (onePodVolume) {
        // a ReadWriteOnce volume attaches to one node, and identity must never run two signers at once
        expect({ name, strategy: d.spec.strategy }).toEqual({ name, strategy: { type: 'Recreate' } });
        expect(d.spec.replicas).toBe(1);
      } else
        expect({ name, strategy: d.spec.strategy }).toEqual({
          name,
          strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
        });
      const keys = (d.spec.template.spec.topologySpreadConstraints ?? []).map(
        (t: K8sObject) => t.topologyKey,
      );
      expect(keys).toEqual(expect.arrayContaining(['kubernetes.io/hostname', 'topology.kubernetes.io/zone']));
      const hpa = find(objs, 'HorizontalPodAutoscaler', name);
      if (hpa !== undefined) {
        expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name });
        expect(d.spec.replicas).toBeUndefined();
      }
      const replicas = hpa?.spec.minReplicas ?? d.spec.replicas;
      if (replicas > 1) expect(find(objs, 'PodDisruptionBudget', name)).toBeDefined();
    }
    expect(objs.filter((o) => o.kind === 'HorizontalPodAutoscaler').length).toBeGreaterThanOrEqual(1);
  });

  it('every service exports OTLP to the collector and gets the event-store settings', () => {
    for (const d of havenServices(objectsOf(s))) {
      const c = d.spec.template.spec.containers[0];
      expect(envOf(c, 'OTEL_EXPORTER_OTLP_ENDPOINT')?.value).toBe('http://haven-otel-collector:4317');
      expect(envOf(c, 'NATS_URL')?.value).toMatch(/^(nats|tls):\/\//);
      expect(envOf(c, 'HAVEN_JETSTREAM_REPLICAS')?.value).toBe('3');
      expect(['jetstream', 'kurrentdb']).toContain(envOf(c, 'HAVEN_EVENT_STORE')?.value);
    }
  });
});

describe('scenarios', () => {
  it('default and small clinic: bundled 3-node JetStream (NATS >= 2.10, sync_interval always, PVCs, PDB)', () => {
    for (const s of ['default', 'small-clinic'] as const) {
      const objs = objectsOf(s);
      const sts = find(objs, 'StatefulSet', 'haven-nats');
      expect(sts?.spec.replicas).toBe(3);
      expect(sts?.spec.volumeClaimTemplates[0].spec.resources.requests.storage).toBeDefined();
      const [major, minor] = String(sts?.spec.template.spec.containers[0].image)
        .split(':')[1]!
        .split('.')
        .map(Number);
      expect((major ?? 0) * 100 + (minor ?? 0)).toBeGreaterThanOrEqual(210);
      const conf = String(find(objs, 'ConfigMap', 'haven-nats')?.data['nats.conf']);
      expect(conf).toMatch(/jetstream \{[^}]*sync_interval: always/);
      expect(conf.match(/nats:\/\/haven-nats-\d\.haven-nats-headless\.haven\.svc:6222/g)).toHaveLength(3);
      expect(find(objs, 'PodDisruptionBudget', 'haven-nats')?.spec.maxUnavailable).toBe(1);
      const session = find(objs, 'Deployment', 'haven-session')?.spec.template.spec.containers[0];
      // NATS clients connect over TLS: the small clinic's own server certificate, or by default the `nats`
      // certificate of mutual TLS (tests/helm/nats.int.spec.ts and mtls.int.spec.ts check both on a real server).
      expect(envOf(session, 'NATS_URL')?.value).toBe('tls://haven-nats:4222');
    }
  });

  it('hospital: external NATS with credentials, two Janus nodes, Ingress TLS, telemetry upstream, PrometheusRule', () => {
    const objs = objectsOf('hospital');
    expect(objs.find((o) => o.kind === 'StatefulSet')).toBeUndefined();
    const session = find(objs, 'Deployment', 'haven-session');
    const c = session?.spec.template.spec.containers[0];
    expect(envOf(c, 'NATS_URL')?.value).toMatch(/^tls:\/\/nats-0\.nats\.hospital\.example:4222,/);
    expect(envOf(c, 'NATS_CREDS_FILE')?.value).toBe('/etc/haven/nats/haven.creds');
    expect(
      session?.spec.template.spec.volumes.find((v: K8sObject) => v.name === 'nats-creds')?.secret.secretName,
    ).toBe('haven-nats-creds');
    expect(envOf(c, 'HAVEN_JANUS_WS_URLS')?.value).toBe(
      'wss://haven-janus-media-a:8188,wss://haven-janus-media-b:8188',
    );
    expect(envOf(c, 'HAVEN_JANUS_ADMIN_SECRET')?.valueFrom.secretKeyRef.name).toBe('haven-janus');
    const janus = objs.filter((o) => o.kind === 'Deployment' && o.metadata.name.startsWith('haven-janus-'));
    expect(janus.map((d) => d.metadata.name).sort()).toEqual(['haven-janus-media-a', 'haven-janus-media-b']);
    for (const d of janus) {
      expect(d.spec.replicas).toBe(1);
      expect(d.spec.template.spec.nodeSelector['kubernetes.io/hostname']).toMatch(/^media-[ab]\./);
      expect(d.spec.template.spec.containers[0].args).toEqual(
        expect.arrayContaining([expect.stringMatching(/^--nat-1-1=198\.51\.100\.2[12]$/)]),
      );
    }
    const media = find(objs, 'Service', 'haven-janus-media-b-media');
    expect(media?.spec.type).toBe('NodePort');
    expect(media?.spec.ports).toHaveLength(128);
    expect(media?.spec.ports.every((p: K8sObject) => p.protocol === 'UDP' && p.nodePort === p.port)).toBe(
      true,
    );
    const ing = find(objs, 'Ingress', 'haven-gateway');
    expect(ing?.spec.tls).toEqual([
      { hosts: ['telehealth.hospital.example'], secretName: 'telehealth-hospital-tls' },
    ]);
    // Janus secrets, the keyring and the audit signing key come from existing secrets: the chart generates none.
    expect(objs.filter((o) => o.kind === 'Secret')).toEqual([]);
    expect(find(objs, 'PrometheusRule', 'haven-alerts')?.metadata.labels.release).toBe(
      'kube-prometheus-stack',
    );
    const col = find(objs, 'ConfigMap', 'haven-otel-collector');
    const cfg = parseYaml(col?.data['collector.yaml']) as K8sObject;
    expect(cfg.service.pipelines.traces.exporters).toEqual(['otlp']);
    expect(cfg.exporters.otlp.headers.authorization).toBe('${env:HAVEN_OTLP_EXPORT_AUTHORIZATION}');
  });

  it('the audit ledger lives on a kept volume with one replica; without it, replicas rebuild on emptyDirs', () => {
    const objs = objectsOf('default');
    const d = find(objs, 'Deployment', 'haven-audit');
    expect(d?.spec.replicas).toBe(1);
    expect(d?.spec.strategy).toEqual({ type: 'Recreate' });
    const data = d?.spec.template.spec.volumes.find((v: K8sObject) => v.name === 'data');
    expect(data?.persistentVolumeClaim?.claimName).toBe('haven-audit-data');
    const pvc = find(objs, 'PersistentVolumeClaim', 'haven-audit-data');
    expect(pvc?.metadata.annotations['helm.sh/resource-policy']).toBe('keep');
    const rebuilt = template([], ['services.audit.persistence.enabled=false', 'services.audit.replicas=2']);
    const r = find(rebuilt, 'Deployment', 'haven-audit');
    expect(r?.spec.replicas).toBe(2);
    expect(r?.spec.template.spec.volumes.find((v: K8sObject) => v.name === 'data')?.emptyDir).toBeDefined();
    expect(find(rebuilt, 'PersistentVolumeClaim', 'haven-audit-data')).toBeUndefined();
  });

  it('kurrentdb: KURRENTDB_URL from the connection-string secret, egress to KurrentDB', () => {
    const objs = objectsOf('kurrentdb');
    for (const d of havenServices(objs)) {
      const c = d.spec.template.spec.containers[0];
      expect(envOf(c, 'HAVEN_EVENT_STORE')?.value).toBe('kurrentdb');
      expect(envOf(c, 'KURRENTDB_URL')?.valueFrom.secretKeyRef).toEqual({
        name: 'haven-kurrentdb',
        key: 'connectionString',
      });
      const np = find(objs, 'NetworkPolicy', d.metadata.name);
      expect(np?.spec.egress.some((r: K8sObject) => r.ports?.some((p: K8sObject) => p.port === 2113))).toBe(
        true,
      );
    }
  });

  it('the PrometheusRule is off by default (the CRD may not exist) and dashboards carry the sidecar label', () => {
    const objs = objectsOf('default');
    expect(objs.find((o) => o.kind === 'PrometheusRule')).toBeUndefined();
    const dashboards = objs.filter(
      (o) => o.kind === 'ConfigMap' && o.metadata.labels.grafana_dashboard === '1',
    );
    expect(dashboards).toHaveLength(2);
    for (const d of dashboards)
      for (const v of Object.values(d.data as Record<string, string>))
        expect(JSON.parse(v).uid).toMatch(/^haven-/);
  });

  it('Janus config lives in a ConfigMap without secrets; media UDP is open to anyone, the APIs only to the session service', () => {
    const objs = objectsOf('default');
    const cm = find(objs, 'ConfigMap', 'haven-janus');
    expect(Object.keys(cm?.data ?? {})).toEqual(
      expect.arrayContaining([
        'janus.jcfg',
        'janus.plugin.videoroom.jcfg',
        'janus.transport.websockets.jcfg',
        'janus.eventhandler.sampleevh.jcfg',
      ]),
    );
    expect(cm?.data['janus.eventhandler.sampleevh.jcfg']).toContain(
      'backend = "http://haven-session:8082/janus-events"',
    );
    const np = find(objs, 'NetworkPolicy', 'haven-janus');
    const udp = np?.spec.ingress.find((r: K8sObject) => r.from === undefined);
    expect(udp?.ports).toEqual([{ port: 30000, endPort: 30063, protocol: 'UDP' }]);
    const api = np?.spec.ingress.filter((r: K8sObject) => r.from !== undefined);
    expect(api?.map((r: K8sObject) => r.from)).toEqual([
      [
        {
          podSelector: { matchLabels: expect.objectContaining({ 'app.kubernetes.io/component': 'session' }) },
        },
      ],
    ]);
    // The raw recordings are in memory, in the Janus pod only (tests/helm/recording-processor.int.spec.ts).
    expect(find(objs, 'PersistentVolumeClaim', 'haven-recordings')).toBeUndefined();
    const jan = find(objs, 'Deployment', 'haven-janus-media-1')?.spec.template.spec;
    expect(jan.volumes.find((v: K8sObject) => v.name === 'recordings')?.emptyDir).toEqual({
      medium: 'Memory',
      sizeLimit: '2Gi',
    });
  });

  it('locks Janus down: recordings only into the recordings volume, room changes and RTP forwarding behind the admin key, no route for browsers', () => {
    for (const scenario of SCENARIO_NAMES) {
      const objs = objectsOf(scenario);
      const cm = find(objs, 'ConfigMap', 'haven-janus');
      const core = String(cm?.data['janus.jcfg']);
      const folders = JSON.parse(/protected_folders = (\[[^\]]*\])/.exec(core)?.[1] ?? '[]') as string[];
      const recordings = '/srv/haven/recordings/visit-video-0.mjr';
      expect(folders).toEqual(
        expect.arrayContaining(['/etc/', '/usr/', '/var/', '/tmp/', '/run/', '/root/', '/home/']),
      );
      expect(folders.filter((f) => recordings.startsWith(f))).toEqual([]);
      const videoroom = String(cm?.data['janus.plugin.videoroom.jcfg']);
      expect(videoroom).toMatch(/admin_key = "@ADMIN_SECRET@"/);
      expect(videoroom).toMatch(/lock_rtp_forward = true/);
      expect(videoroom).toMatch(/string_ids = false/);
      // No Ingress path leads to a Janus Service; the gateway's is the only backend, but for the SMS provider's
      // replies to scheduling (/sms/inbound/, signature-checked there).
      for (const ing of objs.filter((o) => o.kind === 'Ingress'))
        for (const rule of ing.spec.rules)
          for (const path of rule.http.paths)
            expect(path.backend.service.name).toBe(
              path.path === '/sms/inbound/' ? 'haven-scheduling' : 'haven-gateway',
            );
      // The gateway relays media to the session service's proxy; the session service records into the volume.
      const env = (name: string) =>
        find(objs, 'Deployment', name)?.spec.template.spec.containers[0].env as K8sObject[];
      expect(env('haven-gateway').find((e) => e.name === 'HAVEN_SESSION_MEDIA_URL')?.value).toBe(
        'ws://haven-session:8082/media',
      );
      expect(env('haven-gateway').find((e) => e.name === 'HAVEN_JANUS_PUBLIC_WS_URLS')).toBeUndefined();
      expect(env('haven-session').find((e) => e.name === 'HAVEN_JANUS_RECORDINGS_DIR')?.value).toBe(
        '/srv/haven/recordings',
      );
    }
    // Another mount path moves the unprotected folder with it.
    const moved = template([], ['recordings.mountPath="/data/recordings"']);
    const core = String(find(moved, 'ConfigMap', 'haven-janus')?.data['janus.jcfg']);
    expect(core).toContain('"/srv/"');
    expect(core).not.toContain('"/data/"');
  });

  it('gives the session service the clinic’s recording policy (on-request unless set), and refuses an unknown one', () => {
    const policyOf = (objs: K8sObject[]) =>
      envOf(
        find(objs, 'Deployment', 'haven-session')?.spec.template.spec.containers[0],
        'HAVEN_RECORDING_POLICY',
      )?.value as unknown;
    expect(policyOf(objectsOf('default'))).toBe('on-request');
    expect(policyOf(template([], ['recordings.policy="off"']))).toBe('off');
    expect(policyOf(template([], ['recordings.policy="required"']))).toBe('required');
    expect(() => template([], ['recordings.policy="sometimes"'])).toThrow(/policy/);
  });

  it('hostNetwork media exposure renders host networking and no media Service', () => {
    const objs = template(
      [],
      [
        'janus.mediaExposure="hostNetwork"',
        'janus.nodes=[{"name":"m1","rtpPortRange":{"min":20000,"max":40000}}]',
      ],
    );
    const d = find(objs, 'Deployment', 'haven-janus-m1');
    expect(d?.spec.template.spec.hostNetwork).toBe(true);
    expect(d?.spec.template.spec.dnsPolicy).toBe('ClusterFirstWithHostNet');
    expect(objs.find((o) => o.kind === 'Service' && o.metadata.name.endsWith('-media'))).toBeUndefined();
  });
});

describe('generated-once secrets', () => {
  it('are random per render and never appear in NOTES', () => {
    const a = objectsOf('default').filter((o) => o.kind === 'Secret');
    const b = template().filter((o) => o.kind === 'Secret');
    expect(a.map((x) => x.metadata.name).sort()).toEqual([
      'haven-audit-signing',
      'haven-forwarder',
      'haven-janus-secrets',
      'haven-keyring',
      'haven-nats-auth',
    ]);
    // The forwarder secret identity and the gateway share (and no other service gets): long enough for both
    // services' schemas (≥ 32).
    for (const d of objectsOf('default').filter((o) => o.kind === 'Deployment')) {
      const ref = envOf(d.spec.template.spec.containers[0], 'HAVEN_FORWARDER_SECRET')?.valueFrom
        ?.secretKeyRef;
      const shares = ['haven-identity', 'haven-gateway'].includes(d.metadata.name);
      expect([d.metadata.name, ref?.name]).toEqual([d.metadata.name, shares ? 'haven-forwarder' : undefined]);
    }
    expect(
      Buffer.from(a.find((x) => x.metadata.name === 'haven-forwarder')?.data['forwarder-secret'], 'base64')
        .length,
    ).toBeGreaterThanOrEqual(32);
    for (const sa of a) {
      const sb = b.find((x) => x.metadata.name === sa.metadata.name);
      for (const [k, v] of Object.entries(sa.data as Record<string, string>)) expect(sb?.data[k]).not.toBe(v);
    }
    const keyring = JSON.parse(
      Buffer.from(
        a.find((x) => x.metadata.name === 'haven-keyring')?.data['keyring.json'],
        'base64',
      ).toString('utf8'),
    );
    expect(keyring.format).toBe('haven.keyring.v1');
    expect(Buffer.from(keyring.keys[0].key, 'base64url')).toHaveLength(32);
    expect(keyring.current).toBe(keyring.keys[0].id);
    // The audit ledger's signing key: an Ed25519 key the audit service (node:crypto) accepts.
    const signing = createPrivateKey(
      Buffer.from(
        a.find((x) => x.metadata.name === 'haven-audit-signing')?.data['signing-key.pem'],
        'base64',
      ).toString('utf8'),
    );
    expect(signing.asymmetricKeyType).toBe('ed25519');

    // NOTES comes from a separate render, so also check that NOTES never prints any Secret's data.
    const r = notes();
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('helm test haven');
    const manifest = helm(['install', 'haven', CHART, '--namespace', 'haven', '--dry-run=client']).stdout;
    const secrets = [
      ...manifest.matchAll(
        /^ {2}(admin-secret|token-secret|events-secret|keyring\.json|signing-key\.pem|[a-z]+-password|[a-z]+-bcrypt): "([^"]+)"$/gm,
      ),
    ].map((m) => m[2]!);
    expect(secrets).toHaveLength(5 + 7 * 2); // Janus, keyring, signing key; a password and a hash per NATS user
    const notesText = manifest.slice(manifest.indexOf('\nNOTES:\n'));
    for (const v of secrets) {
      expect(notesText).not.toContain(v);
      expect(notesText).not.toContain(Buffer.from(v, 'base64').toString('utf8').slice(0, 24));
    }
  });
});

describe('values.schema.json', () => {
  it('rejects a typo in a key with a message naming it', () => {
    const r = helm(['template', 'haven', CHART, '--set', 'services.identity.replica=3']);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("at '/services/identity': additional properties 'replica' not allowed");
  });

  it('rejects a typo at the top level too', () => {
    const r = helm(['template', 'haven', CHART, '--set', 'ingres.host=x']);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("additional properties 'ingres' not allowed");
  });

  it('rejects a wrong type with a message naming the value and both types', () => {
    const r = helm(['template', 'haven', CHART, '--set-json', 'nats.replicas="three"']);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("at '/nats/replicas': got string, want integer");
  });

  it('rejects an unknown MFA role and a public Janus URL (browsers no longer reach Janus)', () => {
    const r1 = helm(['template', 'haven', CHART, '--set', 'settings.mfaRequiredRoles=admin\\,superuser']);
    expect(r1.status).not.toBe(0);
    expect(r1.stderr).toMatch(/\/settings\/mfaRequiredRoles/);
    const r2 = helm([
      'template',
      'haven',
      CHART,
      '--set-json',
      'janus.nodes=[{"name":"a","rtpPortRange":{"min":30000,"max":30001},"publicWsUrl":"wss://x"}]',
    ]);
    expect(r2.status).not.toBe(0);
    expect(r2.stderr).toMatch(/publicWsUrl/);
    const r3 = helm(['template', 'haven', CHART, '--set', 'janus.publicWebsocket.ingress=true']);
    expect(r3.status).not.toBe(0);
    expect(r3.stderr).toMatch(/publicWebsocket/);
  });

  it('rejects an unknown enum value and a container without limits', () => {
    const r1 = helm(['template', 'haven', CHART, '--set', 'eventStore.type=postgres']);
    expect(r1.status).not.toBe(0);
    expect(r1.stderr).toMatch(/\/eventStore\/type/);
    const r2 = helm(['template', 'haven', CHART, '--set-json', 'nats.resources.limits=null']);
    expect(r2.status).not.toBe(0);
    expect(r2.stderr).toContain("at '/nats/resources': missing property 'limits'");
  });

  it('sets additionalProperties false on every object that has properties', () => {
    const schema = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8'));
    const open: string[] = [];
    const walk = (node: unknown, path: string): void => {
      if (node === null || typeof node !== 'object') return;
      const n = node as Record<string, unknown>;
      // if/then branches only narrow properties that the enclosing (closed) object already declares
      const conditional = /\/(if|then|else)$/.test(path);
      if (n.properties !== undefined && n.additionalProperties !== false && !conditional) open.push(path);
      for (const [k, v] of Object.entries(n)) walk(v, `${path}/${k}`);
    };
    walk(schema, '');
    expect(open).toEqual([]);
  });

  it('every value in values.yaml has a `# --` comment', () => {
    const lines = readFileSync(join(CHART, 'values.yaml'), 'utf8').split('\n');
    const missing: string[] = [];
    // Keys that are fields of a documented list item or flow map, and the service entries whose fields are all documented.
    const exempt =
      /^\s+(requests|limits|- name|rtpPortRange|nat1to1|nodeSelector|tolerations|loadBalancerIP|identity|scheduling|session|recording|audit|gateway):/;
    lines.forEach((line, i) => {
      if (!/^\s*[A-Za-z][\w-]*:/.test(line) || exempt.test(line)) return;
      let j = i - 1;
      let documented = false;
      while (j >= 0 && /^\s*#/.test(lines[j]!)) {
        if (/^\s*# --/.test(lines[j]!)) documented = true;
        j -= 1;
      }
      if (!documented) missing.push(`${i + 1}: ${line.trim()}`);
    });
    expect(missing).toEqual([]);
  });
});

describe('impossible combinations fail with a clear message', () => {
  const cases: [string, string[], RegExp][] = [
    [
      'bundled NATS disabled and no external URL',
      ['nats.bundled=false'],
      /nats\.bundled is false but nats\.external\.url is empty/,
    ],
    [
      'kurrentdb without a connection-string secret',
      ['eventStore.type="kurrentdb"'],
      /eventStore\.type is kurrentdb but eventStore\.kurrentdb\.existingSecret is empty/,
    ],
    ['no Janus node', ['janus.nodes=[]'], /janus\.nodes is empty/],
    ['more stream replicas than NATS nodes', ['nats.replicas=1'], /exceeds nats\.replicas/],
    [
      'scheduling with more than one replica on a ReadWriteOnce data volume',
      ['services.scheduling.replicas=2'],
      /services\.scheduling can run 2 replicas but persistence\.accessMode is ReadWriteOnce/,
    ],
    [
      'scheduling autoscaled on a ReadWriteOnce data volume',
      ['services.scheduling.autoscaling.enabled=true'],
      /services\.scheduling can run 6 replicas .*needs ReadWriteMany/,
    ],
    [
      'scheduling data keys on an emptyDir',
      ['services.scheduling.persistence.enabled=false'],
      /services\.scheduling\.persistence\.enabled \(and dataDir\) must be true.*every patient's PHI/,
    ],
    [
      'recording keys and encrypted recordings on an emptyDir',
      ['services.recording.persistence.enabled=false'],
      /services\.recording\.persistence\.enabled \(and dataDir\) must be true.*every recording with it/,
    ],
    [
      'recording replicas sharing a ReadWriteOnce data volume',
      ['services.recording.persistence.accessMode="ReadWriteOnce"'],
      /services\.recording can run \d+ replicas but persistence\.accessMode is ReadWriteOnce/,
    ],
    [
      'scheduling without the keyring',
      ['services.scheduling.keyring=false'],
      /services\.scheduling\.keyring must be true/,
    ],
    [
      'identity without the keyring (credential secrets sealed under keys wrapped by it)',
      ['services.identity.keyring=false'],
      /services\.identity\.keyring must be true/,
    ],
    [
      'identity signing keys on an emptyDir',
      ['services.identity.persistence.enabled=false'],
      /services\.identity\.persistence\.enabled .*must be true/,
    ],
    [
      'more than one identity replica, even on ReadWriteMany',
      ['services.identity.replicas=2', 'services.identity.persistence.accessMode="ReadWriteMany"'],
      /services\.identity must run exactly one replica/,
    ],
    [
      'a persistent audit log shared by two replicas',
      [
        'services.audit.replicas=2',
        'services.audit.persistence={"enabled":true,"size":"1Gi","accessMode":"ReadWriteMany"}',
      ],
      /services\.audit has persistence\.enabled with more than one replica/,
    ],
    [
      'a gateway without the session service (no media relay target)',
      ['services.session.enabled=false'],
      /services\.gateway needs services\.session/,
    ],
    [
      'node-port range outside 30000-32767',
      ['janus.nodes=[{"name":"a","rtpPortRange":{"min":10000,"max":10010}}]'],
      /inside the default node-port range/,
    ],
    [
      'direct passkey attestation without allowed authenticators',
      ['settings.passkeys.attestation="direct"'],
      /settings.passkeys.allowedAaguids is empty/,
    ],
  ];
  it.each(cases)('%s', (_name, setJson, message) => {
    const t = helm(['template', 'haven', CHART, ...valuesArgs([], setJson)]);
    expect(t.status).not.toBe(0);
    expect(t.stderr).toMatch(message);
    const n = notes([], setJson);
    expect(n.status).not.toBe(0);
    expect(n.stderr).toMatch(message);
  });
});

describe('passkeys', () => {
  it("identity gets the web app's origin and the clinic's attestation policy", () => {
    const aaguid = 'cb69481e-8ff7-4039-93ec-0a2729a154a8';
    const objs = template(
      [],
      [
        'settings.publicUrl="https://haven.clinic.example"',
        'settings.passkeys={"rpId":"clinic.example","attestation":"direct","allowedAaguids":["' +
          aaguid +
          '"]}',
      ],
    );
    const identity = objs.find((o) => o.kind === 'Deployment' && /identity$/.test(o.metadata.name));
    const env = Object.fromEntries(
      (identity?.spec.template.spec.containers[0].env ?? []).map((e: K8sObject) => [e.name, e.value]),
    );
    expect(env).toMatchObject({
      HAVEN_PUBLIC_URL: 'https://haven.clinic.example',
      HAVEN_WEBAUTHN_RP_ID: 'clinic.example',
      HAVEN_PASSKEY_ATTESTATION: 'direct',
      HAVEN_PASSKEY_AAGUIDS: aaguid,
    });
  });
});

describe('install-helm', () => {
  it('is idempotent and fast once helm is installed', () => {
    const started = Date.now();
    const r = helm(['version', '--short']);
    expect(r.stdout).toMatch(/^v[34]\./);
    const again = spawnSync(process.execPath, [join(ROOT, 'scripts', 'install-helm.mjs')], {
      encoding: 'utf8',
    });
    expect(again.status).toBe(0);
    expect(again.stdout).toBe('');
    expect(Date.now() - started).toBeLessThan(5000);
  });
});
