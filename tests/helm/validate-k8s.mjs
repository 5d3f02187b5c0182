// Validates Kubernetes objects against the OpenAPI schemas shipped by kubernetes-models
// (and @kubernetes-models/prometheus-operator for PrometheusRule). ESM-only packages, so the jest
// spec runs this as a child process: reads a JSON array of {id, object} on stdin, writes a JSON array
// of {id, error} (error null when valid) on stdout.
import { readFileSync } from 'node:fs';

const MODELS = {
  'monitoring.coreos.com/v1': '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1',
};

async function modelFor(apiVersion, kind) {
  const base = MODELS[apiVersion] ?? `kubernetes-models/${apiVersion}`;
  const mod = await import(`${base}/${kind}`);
  const Model = mod[kind] ?? mod.default;
  if (typeof Model !== 'function') throw new Error(`no model for ${apiVersion} ${kind}`);
  return Model;
}

const input = JSON.parse(readFileSync(0, 'utf8'));
const out = [];
for (const { id, object } of input) {
  let error = null;
  try {
    if (!object || typeof object.apiVersion !== 'string' || typeof object.kind !== 'string') {
      throw new Error('object has no apiVersion/kind');
    }
    const Model = await modelFor(object.apiVersion, object.kind);
    new Model(object).validate();
  } catch (e) {
    error = e instanceof Error ? e.message : String(e);
  }
  out.push({ id, error });
}
process.stdout.write(JSON.stringify(out));
