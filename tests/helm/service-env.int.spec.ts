// Would the pods start? Every Haven service Deployment the chart renders is checked against the service's own
// configuration schema (the code each process runs at start: loadConfig / loadIdentityConfig / loadGatewayConfig),
// so a variable a service would reject, or a required one the chart forgets, fails here instead of in a
// CrashLoopBackOff. Also: every file path a service is given lies on a mounted volume, every in-cluster URL or
// address points at a rendered Service port that the target container listens on, and the NetworkPolicies allow
// exactly the flows the services need (and not the unauthenticated Janus event endpoint to anyone but Janus).
import { loadConfig } from '@haven/service';
import { loadGatewayConfig } from '../../services/gateway/src/config';
import { loadIdentityConfig } from '../../services/identity/src/config';
import { auditConfigSchema } from '../../services/audit/src/server';
import { recordingConfigSchema } from '../../services/recording/src/server';
import { schedulingConfigSchema } from '../../services/scheduling/src/server';
import { sessionConfigSchema } from '../../services/session/src/server';
import { SCENARIOS, ensureHelm, processEnvOf, selects, template, type K8sObject } from './helm-support';

type Env = Record<string, string>;

/** How each service's process parses its environment at start (its index.ts). */
const LOADERS: Record<string, (env: Env) => unknown> = {
  identity: (env) => loadIdentityConfig(env),
  gateway: (env) => loadGatewayConfig(env),
  scheduling: (env) => loadConfig(schedulingConfigSchema, env),
  session: (env) => loadConfig(sessionConfigSchema, env),
  audit: (env) => loadConfig(auditConfigSchema, env),
  recording: (env) => loadConfig(recordingConfigSchema, env),
};

type ScenarioName = 'default' | keyof typeof SCENARIOS;
const SCENARIO_NAMES: readonly ScenarioName[] = ['default', 'small-clinic', 'hospital', 'kurrentdb'];
const rendered = new Map<ScenarioName, K8sObject[]>();
const objectsOf = (s: ScenarioName): K8sObject[] => rendered.get(s) ?? [];

interface ServicePod {
  readonly service: string;
  readonly deployment: K8sObject;
  readonly container: K8sObject;
  readonly labels: Record<string, string>;
}

function servicePods(objs: readonly K8sObject[]): ServicePod[] {
  return objs
    .filter((o) => o.kind === 'Deployment' && o.spec.template.metadata.labels['haven.io/service'] === 'true')
    .map((d) => {
      const container = d.spec.template.spec.containers[0];
      const service = /^services\/([a-z-]+)\/dist\/index\.js$/.exec(container.args[0])?.[1] ?? '?';
      return { service, deployment: d, container, labels: d.spec.template.metadata.labels };
    });
}

/** Parses the env with the service's own loader; returns the problem text, or null when it would start. */
function problemsOf(service: string, env: Env): string | null {
  const load = LOADERS[service];
  if (load === undefined) return `no loader for service ${service}`;
  try {
    load(env);
    return null;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

beforeAll(() => {
  ensureHelm();
  for (const s of SCENARIO_NAMES)
    rendered.set(s, template(s === 'default' ? [] : [SCENARIOS[s]], [], 'haven'));
});

describe.each(SCENARIO_NAMES)('service environments (%s)', (s) => {
  it('every Haven service Deployment is accepted by that service’s configuration schema', () => {
    const pods = servicePods(objectsOf(s));
    expect(pods.map((p) => p.service).sort()).toEqual(
      ['audit', 'gateway', 'identity', 'recording', 'scheduling', 'session'].sort(),
    );
    const results = pods.map((p) => ({
      service: p.service,
      problems: problemsOf(p.service, processEnvOf(p.container)),
    }));
    expect(results).toEqual(pods.map((p) => ({ service: p.service, problems: null })));
  });

  it('every service gets both JWKS URLs and the address of every gRPC service', () => {
    for (const { service, container } of servicePods(objectsOf(s))) {
      const env = processEnvOf(container);
      expect({ service, jwks: env.HAVEN_JWKS_URL }).toEqual({
        service,
        jwks: 'http://haven-identity:8081/.well-known/jwks.json',
      });
      expect({ service, patient: env.HAVEN_PATIENT_JWKS_URL }).toEqual({
        service,
        patient: 'http://haven-scheduling:8083/.well-known/jwks.json',
      });
      for (const [name, port] of Object.entries({
        IDENTITY: 20051,
        SCHEDULING: 20052,
        SESSION: 20053,
        RECORDING: 20054,
        AUDIT: 20055,
      }))
        expect(env[`HAVEN_${name}_GRPC_ADDR`]).toBe(`haven-${name.toLowerCase()}:${port}`);
    }
  });

  it('files the services are given lie on mounted volumes; data directories are writable', () => {
    for (const { service, deployment, container } of servicePods(objectsOf(s))) {
      const env = processEnvOf(container);
      const volumes: K8sObject[] = deployment.spec.template.spec.volumes ?? [];
      const mountOf = (path: string): K8sObject | undefined =>
        (container.volumeMounts ?? []).find(
          (m: K8sObject) => path === m.mountPath || path.startsWith(`${String(m.mountPath)}/`),
        );
      for (const name of [
        'HAVEN_DATA_DIR',
        'HAVEN_KEYRING_FILE',
        'HAVEN_RECORDINGS_DIR',
        'NATS_CREDS_FILE',
        'NATS_TLS_CA_FILE',
      ]) {
        const path = env[name];
        if (path === undefined) continue;
        const mount = mountOf(path);
        expect({ service, name, mounted: mount !== undefined }).toEqual({ service, name, mounted: true });
        expect(volumes.some((v) => v.name === mount?.name)).toBe(true);
        if (name !== 'NATS_CREDS_FILE' && name !== 'NATS_TLS_CA_FILE')
          expect({ service, name, ro: mount?.readOnly ?? false }).toEqual({ service, name, ro: false });
      }
    }
  });

  it('identity, scheduling and session keep HAVEN_DATA_DIR on a PersistentVolumeClaim that survives uninstall', () => {
    const objs = objectsOf(s);
    for (const { service, deployment } of servicePods(objs).filter((p) =>
      ['identity', 'scheduling', 'session'].includes(p.service),
    )) {
      const data = deployment.spec.template.spec.volumes.find((v: K8sObject) => v.name === 'data');
      const claim = data?.persistentVolumeClaim?.claimName;
      expect({ service, claim }).toEqual({ service, claim: `haven-${service}-data` });
      const pvc = objs.find((o) => o.kind === 'PersistentVolumeClaim' && o.metadata.name === claim);
      expect(pvc?.metadata.annotations['helm.sh/resource-policy']).toBe('keep');
      const hpa = objs.find(
        (o) => o.kind === 'HorizontalPodAutoscaler' && o.metadata.name === deployment.metadata.name,
      );
      const maxReplicas = hpa?.spec.maxReplicas ?? deployment.spec.replicas;
      if (maxReplicas > 1) {
        expect({ service, accessModes: pvc?.spec.accessModes }).toEqual({
          service,
          accessModes: ['ReadWriteMany'],
        });
      } else {
        expect({ service, strategy: deployment.spec.strategy.type }).toEqual({
          service,
          strategy: 'Recreate',
        });
      }
      if (service === 'identity') expect(maxReplicas).toBe(1);
    }
  });

  it('in-cluster URLs and addresses point at a Service port the target container listens on', () => {
    const objs = objectsOf(s);
    const services = objs.filter((o) => o.kind === 'Service');
    const check = (from: string, variable: string, host: string, port: number): void => {
      const svc = services.find((o) => o.metadata.name === host);
      const sp = svc?.spec.ports.find((p: K8sObject) => p.port === port);
      expect({ from, variable, servicePort: sp !== undefined }).toEqual({
        from,
        variable,
        servicePort: true,
      });
      const target = objs.find(
        (o) =>
          o.kind === 'Deployment' &&
          Object.entries(svc?.spec.selector ?? {}).every(
            ([k, v]) => o.spec.template.metadata.labels[k] === v,
          ),
      );
      const ports: K8sObject[] = target?.spec.template.spec.containers[0].ports ?? [];
      const cp = ports.find((p) => p.name === sp?.targetPort || p.containerPort === sp?.targetPort);
      expect({ from, variable, containerPort: cp?.containerPort }).toEqual({
        from,
        variable,
        containerPort: port,
      });
    };
    for (const { service, container } of servicePods(objs)) {
      const env = processEnvOf(container);
      for (const [variable, value] of Object.entries(env)) {
        if (/^HAVEN_[A-Z]+_GRPC_ADDR$/.test(variable)) {
          const [host, port] = value.split(':');
          check(service, variable, host!, Number(port));
        } else if (/JWKS_URL$|^HAVEN_SESSION_MEDIA_URL$/.test(variable)) {
          const u = new URL(value);
          check(service, variable, u.hostname, Number(u.port));
        } else if (/^HAVEN_JANUS_(WS|ADMIN)_URLS$/.test(variable)) {
          for (const one of value.split(',')) {
            const u = new URL(one);
            check(service, variable, u.hostname, Number(u.port));
          }
        }
      }
    }
    const cm = objs.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'haven-janus');
    const backend = /backend = "([^"]+)"/.exec(cm?.data['janus.eventhandler.sampleevh.jcfg'] ?? '')?.[1];
    const u = new URL(backend ?? 'http://missing:1');
    expect(u.pathname).toBe('/janus-events');
    check('janus', 'event handler backend', u.hostname, Number(u.port));
    const session = servicePods(objs).find((p) => p.service === 'session');
    expect(Number(processEnvOf(session!.container).HAVEN_HTTP_PORT)).toBe(Number(u.port));
  });

  it('the gateway relays media to the session service’s proxy; nothing routes browsers to Janus', () => {
    const objs = objectsOf(s);
    const gateway = servicePods(objs).find((p) => p.service === 'gateway')!;
    const session = servicePods(objs).find((p) => p.service === 'session')!;
    const relay = new URL(processEnvOf(gateway.container).HAVEN_SESSION_MEDIA_URL!);
    // (its host and port are checked with the other in-cluster URLs above)
    expect([relay.protocol, relay.hostname, relay.pathname]).toEqual(['ws:', 'haven-session', '/media']);
    expect(Number(processEnvOf(session.container).HAVEN_HTTP_PORT)).toBe(Number(relay.port));
    for (const p of servicePods(objs))
      expect(processEnvOf(p.container).HAVEN_JANUS_PUBLIC_WS_URLS).toBeUndefined();
    const janusServices = new Set(
      objs
        .filter((o) => o.kind === 'Service' && o.metadata.name.startsWith('haven-janus-'))
        .map((o) => o.metadata.name),
    );
    for (const ing of objs.filter((o) => o.kind === 'Ingress'))
      for (const rule of ing.spec.rules)
        for (const path of rule.http.paths) expect(janusServices.has(path.backend.service.name)).toBe(false);
  });
});

// ---------- NetworkPolicy evaluation (pod selectors within the release namespace, plus namespace selectors) ----------

const portMatches = (rulePorts: K8sObject[] | undefined, port: number): boolean =>
  rulePorts === undefined ||
  rulePorts.some((p) => p.port === port || (p.endPort !== undefined && p.port <= port && port <= p.endPort));
const peerMatches = (peers: K8sObject[] | undefined, labels: Record<string, string>): boolean =>
  peers === undefined ||
  peers.some(
    (peer) =>
      peer.namespaceSelector === undefined && peer.ipBlock === undefined && selects(peer.podSelector, labels),
  );

/** True when the policies let a pod with `from` labels open TCP `port` on a pod with `to` labels (same namespace). */
function allowed(
  objs: readonly K8sObject[],
  from: Record<string, string>,
  to: Record<string, string>,
  port: number,
): boolean {
  const policies = objs.filter((o) => o.kind === 'NetworkPolicy');
  const egress = policies
    .filter((p) => selects(p.spec.podSelector, from))
    .some((p) =>
      (p.spec.egress ?? []).some((r: K8sObject) => peerMatches(r.to, to) && portMatches(r.ports, port)),
    );
  const ingress = policies
    .filter((p) => selects(p.spec.podSelector, to))
    .some((p) =>
      (p.spec.ingress ?? []).some((r: K8sObject) => peerMatches(r.from, from) && portMatches(r.ports, port)),
    );
  return egress && ingress;
}

describe.each(['default', 'hospital'] as const)('network flows (%s)', (s) => {
  const labelsOf = (objs: readonly K8sObject[], name: string): Record<string, string> =>
    objs.find((o) => o.kind === 'Deployment' && o.metadata.name === name)?.spec.template.metadata.labels ??
    {};

  it('every service reaches both JWKS; the gateway reaches every gRPC service, session included', () => {
    const objs = objectsOf(s);
    const pods = servicePods(objs);
    const flows: string[] = [];
    for (const p of pods) {
      for (const [target, port] of [
        ['haven-identity', 8081],
        ['haven-scheduling', 8083],
      ] as const) {
        if (!allowed(objs, p.labels, labelsOf(objs, target), port))
          flows.push(`${p.service} -> ${target}:${port}`);
      }
    }
    const gateway = labelsOf(objs, 'haven-gateway');
    for (const [target, port] of Object.entries({
      'haven-identity': 20051,
      'haven-scheduling': 20052,
      'haven-session': 20053,
      'haven-recording': 20054,
      'haven-audit': 20055,
    }))
      if (!allowed(objs, gateway, labelsOf(objs, target), port)) flows.push(`gateway -> ${target}:${port}`);
    expect(flows).toEqual([]);
  });

  it('Janus (events) and the gateway (media relay) reach the session service’s HTTP port; no other service does', () => {
    const objs = objectsOf(s);
    const session = labelsOf(objs, 'haven-session');
    const janus = objs
      .filter((o) => o.kind === 'Deployment' && o.spec.template.metadata.labels['haven.io/janus'] === 'true')
      .map((d) => d.spec.template.metadata.labels);
    expect(janus.length).toBeGreaterThan(0);
    for (const j of janus) expect(allowed(objs, j, session, 8082)).toBe(true);
    expect(allowed(objs, labelsOf(objs, 'haven-gateway'), session, 8082)).toBe(true);
    for (const p of servicePods(objs).filter((x) => x.service !== 'session' && x.service !== 'gateway'))
      expect({ from: p.service, allowed: allowed(objs, p.labels, session, 8082) }).toEqual({
        from: p.service,
        allowed: false,
      });
  });

  it('only the session service reaches the Janus API and admin API', () => {
    const objs = objectsOf(s);
    const janus = objs
      .filter((o) => o.kind === 'Deployment' && o.spec.template.metadata.labels['haven.io/janus'] === 'true')
      .map((d) => d.spec.template.metadata.labels);
    for (const j of janus)
      for (const p of servicePods(objs))
        for (const port of [8188, 7188])
          expect({ from: p.service, port, allowed: allowed(objs, p.labels, j, port) }).toEqual({
            from: p.service,
            port,
            allowed: p.service === 'session',
          });
  });

  it('the evaluator can say no (a flow no policy allows)', () => {
    const objs = objectsOf(s);
    expect(allowed(objs, labelsOf(objs, 'haven-audit'), labelsOf(objs, 'haven-gateway'), 8080)).toBe(false);
  });
});

describe('the check can fail', () => {
  it('a variable only another service reads stops a service', () => {
    const objs = template([], ['services.audit.env={"HAVEN_VISIT_IDLE_MINUTES":"5"}']);
    const audit = servicePods(objs).find((p) => p.service === 'audit')!;
    expect(problemsOf('audit', processEnvOf(audit.container))).toMatch(
      /HAVEN_VISIT_IDLE_MINUTES: unknown variable/,
    );
  });

  it('a missing required variable stops a service', () => {
    const scheduling = servicePods(objectsOf('default')).find((p) => p.service === 'scheduling')!;
    const env = processEnvOf(scheduling.container);
    expect(problemsOf('scheduling', env)).toBeNull();
    delete env.HAVEN_KEYRING_FILE;
    expect(problemsOf('scheduling', env)).toMatch(/HAVEN_KEYRING_FILE: required/);
  });

  it('a malformed value stops a service', () => {
    const objs = template([], ['services.identity.env={"HAVEN_PASSWORD_MIN_LENGTH":"4"}']);
    const identity = servicePods(objs).find((p) => p.service === 'identity')!;
    expect(problemsOf('identity', processEnvOf(identity.container))).toMatch(/HAVEN_PASSWORD_MIN_LENGTH/);
  });
});
