// The KMS the chart gives the services that wrap keys (session included: the chat's keys) (kms.provider local | pkcs11 | vault-transit), rendered with
// the real helm: each rendered environment passes the service's own configuration schema (the code its process runs
// at start), every secret reaches the container as a 0600 file copied by the init container (never as a value),
// the vendor library's volume and Vault's CA are mounted where the variables point, the NetworkPolicies open the
// HSM's or Vault's port, and impossible combinations fail with a message naming the value to set.
import { loadConfig } from '@haven/service';
import { loadIdentityConfig } from '../../services/identity/src/config';
import { recordingConfigSchema } from '../../services/recording/src/server';
import { schedulingConfigSchema } from '../../services/scheduling/src/server';
import { sessionConfigSchema } from '../../services/session/src/server';
import {
  CHART,
  egressPorts,
  ensureHelm,
  helm,
  mountOf,
  networkPolicy,
  notes,
  processEnvOf,
  serviceContainer,
  serviceDeployments,
  template,
  valuesArgs,
  type K8sObject,
} from './helm-support';

type Env = Record<string, string>;

/** The services that open the KMS, and how each one's process parses its environment. */
const LOADERS: Record<string, (env: Env) => unknown> = {
  identity: (env) => loadIdentityConfig(env),
  scheduling: (env) => loadConfig(schedulingConfigSchema, env),
  recording: (env) => loadConfig(recordingConfigSchema, env),
  session: (env) => loadConfig(sessionConfigSchema, env),
};

const PKCS11 = [
  'kms.provider="pkcs11"',
  'kms.pkcs11.module="/opt/haven/pkcs11/lib/libvendorpkcs11.so"',
  'kms.pkcs11.tokenLabel="haven-prod"',
  'kms.pkcs11.keyPrefix="clinic-a"',
  'kms.pkcs11.pinSecret={"name":"hsm-pin","key":"user-pin"}',
  'kms.pkcs11.volume={"hostPath":{"path":"/opt/vendor-hsm","type":"Directory"}}',
  'kms.pkcs11.env={"ChrystokiConfigurationPath":"/opt/haven/pkcs11/etc"}',
  'kms.pkcs11.egressPorts=[1792]',
  'kms.pkcs11.egressCidrs=["10.30.0.10/32"]',
];
const VAULT = [
  'kms.provider="vault-transit"',
  'kms.vault.address="https://vault.vault.svc:8200"',
  'kms.vault.transitKey="haven-prod"',
  'kms.vault.namespace="clinic-a"',
  'kms.vault.tokenSecret={"name":"vault-token","key":"token"}',
  'kms.vault.caSecret={"name":"vault-ca","key":"ca.crt"}',
  'kms.vault.egressCidrs=["10.40.0.0/24"]',
];

beforeAll(() => ensureHelm());

describe.each([
  ['local', [] as string[]],
  ['pkcs11', PKCS11],
  ['vault-transit', VAULT],
])('kms.provider %s', (provider, setJson) => {
  let objs: K8sObject[];
  beforeAll(() => {
    objs = template([], setJson);
  });

  it.each(Object.keys(LOADERS))('gives %s an environment its configuration accepts', (service) => {
    const d = serviceDeployments(objs).get(service)!;
    const env = processEnvOf(d.spec.template.spec.containers[0]);
    expect(env['HAVEN_KMS']).toBe(provider);
    expect(() => LOADERS[service]!(env)).not.toThrow();
  });

  it('hands each secret over as a 0600 file in a memory-backed volume, copied from the secret, never a value', () => {
    for (const [service, d] of serviceDeployments(objs)) {
      const pod = d.spec.template.spec;
      const container = pod.containers[0];
      const env = processEnvOf(container);
      const kmsVars = (container.env ?? []).filter((e: K8sObject) =>
        /^HAVEN_(KMS|KEYRING|PKCS11|VAULT)/.test(e.name),
      );
      if (!Object.keys(LOADERS).includes(service)) {
        expect({ service, kmsVars }).toEqual({ service, kmsVars: [] });
        continue;
      }
      for (const e of kmsVars) expect(e.valueFrom).toBeUndefined();
      const file =
        { local: env['HAVEN_KEYRING_FILE'], pkcs11: env['HAVEN_PKCS11_PIN_FILE'] }[provider] ??
        env['HAVEN_VAULT_TOKEN_FILE'];
      expect(file).toMatch(/^\/etc\/haven\/keyring\//);
      const mount = mountOf(container, file!);
      const volume = pod.volumes.find((v: K8sObject) => v.name === mount?.name);
      expect(volume.emptyDir).toEqual({ medium: 'Memory', sizeLimit: '1Mi' });
      const init = pod.initContainers.find((c: K8sObject) => c.name === 'keyring');
      const script = init.args.join(' ');
      expect(script).toContain(`'${file}'`);
      expect(script).toContain('0o600');
      const source = pod.volumes.find((v: K8sObject) => v.name === 'keyring-secret').secret;
      const expected = {
        local: { secretName: 'haven-keyring', key: undefined },
        pkcs11: { secretName: 'hsm-pin', key: 'user-pin' },
        'vault-transit': { secretName: 'vault-token', key: 'token' },
      }[provider]!;
      expect(source.secretName).toBe(expected.secretName);
      if (expected.key !== undefined) {
        expect(source.items).toEqual([{ key: expected.key, path: file!.split('/').pop() }]);
      }
    }
  });

  it('generates a keyring secret only for the local keyring', () => {
    const generated = objs.some((o) => o.kind === 'Secret' && o.metadata.name === 'haven-keyring');
    expect(generated).toBe(provider === 'local');
  });
});

describe('kms.provider pkcs11', () => {
  let objs: K8sObject[];
  beforeAll(() => {
    objs = template([], PKCS11);
  });

  it('mounts the vendor library read-only where HAVEN_PKCS11_MODULE points, with its own settings', () => {
    const d = serviceDeployments(objs).get('recording')!;
    const container = d.spec.template.spec.containers[0];
    const env = processEnvOf(container);
    expect(env).toMatchObject({
      HAVEN_PKCS11_MODULE: '/opt/haven/pkcs11/lib/libvendorpkcs11.so',
      HAVEN_PKCS11_TOKEN_LABEL: 'haven-prod',
      HAVEN_PKCS11_KEY_PREFIX: 'clinic-a',
      ChrystokiConfigurationPath: '/opt/haven/pkcs11/etc',
    });
    const mount = mountOf(container, env['HAVEN_PKCS11_MODULE']!);
    expect(mount).toMatchObject({ name: 'kms-module', readOnly: true });
    expect(d.spec.template.spec.volumes.find((v: K8sObject) => v.name === 'kms-module')).toEqual({
      name: 'kms-module',
      hostPath: { path: '/opt/vendor-hsm', type: 'Directory' },
    });
  });

  it('opens the network HSM’s port to the services that use the KMS, and to no other', () => {
    for (const service of ['identity', 'scheduling', 'recording', 'session']) {
      expect(egressPorts(networkPolicy(objs, `haven-${service}`))).toContainEqual({
        port: 1792,
        cidrs: ['10.30.0.10/32'],
      });
    }
    for (const service of ['audit', 'gateway']) {
      expect(egressPorts(networkPolicy(objs, `haven-${service}`)).map((p) => p.port)).not.toContain(1792);
    }
  });

  it('says where the keys are instead of asking for a keyring backup', () => {
    const r = notes(
      [],
      PKCS11.map((s) => s),
    );
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/KMS: the HSM token "haven-prod"/);
    expect(r.stdout).not.toMatch(/KMS keyring/);
  });
});

describe('kms.provider vault-transit', () => {
  it('mounts Vault’s CA where HAVEN_VAULT_CA_FILE points and opens Vault’s port', () => {
    const objs = template([], VAULT);
    const container = serviceContainer(objs, 'scheduling');
    const env = processEnvOf(container);
    expect(env).toMatchObject({
      HAVEN_VAULT_ADDR: 'https://vault.vault.svc:8200',
      HAVEN_VAULT_TRANSIT_KEY: 'haven-prod',
      HAVEN_VAULT_TRANSIT_MOUNT: 'transit',
      HAVEN_VAULT_NAMESPACE: 'clinic-a',
      HAVEN_VAULT_CA_FILE: '/etc/haven/kms-ca/ca.crt',
    });
    expect(mountOf(container, env['HAVEN_VAULT_CA_FILE']!)).toMatchObject({ name: 'kms-ca', readOnly: true });
    expect(egressPorts(networkPolicy(objs, 'haven-scheduling'))).toContainEqual({
      port: 8200,
      cidrs: ['10.40.0.0/24'],
    });
  });
});

describe('impossible KMS settings', () => {
  it.each([
    [
      'pkcs11 without a PIN secret',
      ['kms.provider="pkcs11"', 'kms.pkcs11.module="/x.so"', 'kms.pkcs11.tokenLabel="t"'],
      /kms\.pkcs11\.pinSecret\.name/,
    ],
    [
      'pkcs11 with the library outside the mounted volume',
      [...PKCS11, 'kms.pkcs11.module="/usr/lib/libvendor.so"'],
      /kms\.pkcs11\.module \(\/usr\/lib\/libvendor\.so\) must lie under kms\.pkcs11\.mountPath/,
    ],
    [
      'vault-transit without an address',
      ['kms.provider="vault-transit"', 'kms.vault.tokenSecret={"name":"t","key":"token"}'],
      /kms\.vault\.address/,
    ],
    ['an unknown provider', ['kms.provider="aws"'], /at '\/kms\/provider': value must be one of/],
    [
      'a HAVEN_ variable in the vendor environment',
      [...PKCS11, 'kms.pkcs11.env={"HAVEN_KMS":"local"}'],
      /invalid propertyName 'HAVEN_KMS'/,
    ],
  ])('refuses %s', (_name, setJson, message) => {
    const r = helm(['template', 'haven', CHART, ...valuesArgs([], setJson)]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(message);
  });
});
