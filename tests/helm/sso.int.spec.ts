// Staff SSO in the chart: the providers' ConfigMap is what identity and the gateway parse at start, the client
// secrets reach the gateway only, and a configuration the services would refuse fails at `helm template`.
import { parseSsoConfig } from '@haven/service';
import { CHART, SCENARIOS, ensureHelm, helm, template, valuesArgs, type K8sObject } from './helm-support';

const deployment = (objs: readonly K8sObject[], service: string): K8sObject =>
  objs.find((o) => o.kind === 'Deployment' && o.metadata.name === `haven-${service}`)!;
const mountsOf = (d: K8sObject): { name: string; mountPath: string }[] =>
  d.spec.template.spec.containers[0].volumeMounts;
const envOf = (d: K8sObject): Record<string, string> =>
  Object.fromEntries(
    (d.spec.template.spec.containers[0].env as { name: string; value?: string }[]).map((e) => [
      e.name,
      e.value ?? '',
    ]),
  );

describe('staff SSO in the chart', () => {
  let hospital: K8sObject[];
  beforeAll(() => {
    ensureHelm();
    hospital = template([SCENARIOS.hospital]);
  });

  it('renders the providers as the configuration identity and the gateway parse', () => {
    const map = hospital.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'haven-sso')!;
    const config = parseSsoConfig(JSON.parse(map.data['sso.json'] as string));
    expect(config.providers.map((p) => [p.id, p.clientSecretFile])).toEqual([
      ['hospital', '/etc/haven/sso-client-secrets/hospital'],
    ]);
    for (const service of ['identity', 'gateway']) {
      const d = deployment(hospital, service);
      expect(envOf(d)['HAVEN_SSO_CONFIG_FILE']).toBe('/etc/haven/sso/sso.json');
      expect(mountsOf(d)).toContainEqual(
        expect.objectContaining({ name: 'sso', mountPath: '/etc/haven/sso' }),
      );
    }
    expect(envOf(deployment(hospital, 'gateway'))['HAVEN_PUBLIC_URL']).toBe(
      'https://telehealth.hospital.example',
    );
  });

  it('mounts the client secrets in the gateway only', () => {
    expect(mountsOf(deployment(hospital, 'gateway')).map((m) => m.name)).toContain('sso-client-secrets');
    for (const service of ['identity', 'scheduling', 'session', 'audit', 'recording'])
      expect(mountsOf(deployment(hospital, service)).map((m) => m.name)).not.toContain('sso-client-secrets');
  });

  it('renders nothing for SSO without providers (local accounts only)', () => {
    const plain = template();
    expect(plain.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'haven-sso')).toBeUndefined();
    expect(envOf(deployment(plain, 'identity'))['HAVEN_SSO_CONFIG_FILE']).toBeUndefined();
  });

  it('refuses an http issuer, an unknown role and two providers with one id', () => {
    const base = { id: 'north', displayName: 'A', issuer: 'https://idp.example', clientId: 'c' };
    const roles = [{ group: 'g', role: 'clinician' }];
    const render = (providers: unknown) =>
      helm(['template', 'haven', CHART, ...valuesArgs([], [`sso.providers=${JSON.stringify(providers)}`])]);
    expect(render([{ ...base, roles }]).status).toBe(0);
    expect(render([{ ...base, issuer: 'http://idp.example', roles }]).stderr).toMatch(/issuer/);
    expect(render([{ ...base, roles: [{ group: 'g', role: 'patient' }] }]).stderr).toMatch(/role/);
    expect(
      render([
        { ...base, roles },
        { ...base, roles },
      ]).stderr,
    ).toMatch(/two providers with the id "north"/);
  });
});
