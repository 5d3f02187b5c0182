// Validates Kubernetes objects against the OpenAPI schemas shipped by kubernetes-models
// (and @kubernetes-models/prometheus-operator for PrometheusRule). ESM-only packages, so the jest
// spec runs this as a child process: reads a JSON array of {id, object} on stdin, writes a JSON array
// of {id, error} (error null when valid) on stdout.
import { readFileSync } from 'node:fs';

const MODELS = {
  'monitoring.coreos.com/v1': '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1',
};

/** CRDs without a model package here: the fields cert-manager requires, checked by hand. */
const HAND_CHECKED = {
  'cert-manager.io/v1/Certificate': (o) => {
    const s = o.spec ?? {};
    if (typeof o.metadata?.name !== 'string') throw new Error('metadata.name is required');
    if (typeof s.secretName !== 'string' || s.secretName === '')
      throw new Error('spec.secretName is required');
    if (typeof s.issuerRef?.name !== 'string' || s.issuerRef.name === '')
      throw new Error('spec.issuerRef.name is required');
    // A CA certificate names no host; every other certificate of the chart names its Service.
    if (s.isCA !== true && (!Array.isArray(s.dnsNames) || s.dnsNames.length === 0))
      throw new Error('spec.dnsNames is required');
    if (
      s.uris !== undefined &&
      !(Array.isArray(s.uris) && s.uris.every((u) => /^spiffe:\/\/[a-z0-9.-]+\/[a-z-]+$/.test(u)))
    )
      throw new Error('spec.uris must be spiffe://<trust domain>/<workload> URIs');
    for (const k of Object.keys(s)) {
      const known = [
        'secretName',
        'issuerRef',
        'dnsNames',
        'duration',
        'renewBefore',
        'privateKey',
        'usages',
        'commonName',
        'uris',
        'isCA',
      ];
      if (!known.includes(k)) throw new Error(`spec.${k} is not a Certificate field this chart uses`);
    }
  },
  'cert-manager.io/v1/Issuer': (o) => {
    const s = o.spec ?? {};
    if (typeof o.metadata?.name !== 'string') throw new Error('metadata.name is required');
    const kinds = Object.keys(s);
    if (kinds.length !== 1 || !['selfSigned', 'ca'].includes(kinds[0]))
      throw new Error('spec must be exactly one of selfSigned or ca (the kinds this chart uses)');
    if (kinds[0] === 'ca' && (typeof s.ca.secretName !== 'string' || s.ca.secretName === ''))
      throw new Error('spec.ca.secretName is required');
  },
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
    const check = HAND_CHECKED[`${object.apiVersion}/${object.kind}`];
    if (check) check(object);
    else {
      const Model = await modelFor(object.apiVersion, object.kind);
      new Model(object).validate();
    }
  } catch (e) {
    error = e instanceof Error ? e.message : String(e);
  }
  out.push({ id, error });
}
process.stdout.write(JSON.stringify(out));
