/**
 * Secrets at rest in the chart: every secret is either the hospital's (`existingSecret`, referenced by name) or
 * generated once by the chart (random on first install, reused on upgrade through `lookup`, kept on uninstall);
 * none is ever a plain value in values.yaml or in a rendered container's environment.
 */
import { ensureHelm, template, type K8sObject } from './helm-support';

beforeAll(() => ensureHelm());

describe('secrets at rest in the chart', () => {
  it('renders only generated-once secrets, each kept on uninstall', () => {
    const secrets = template().filter((o) => o.kind === 'Secret');
    expect(secrets.map((s) => s.metadata.name).sort()).toEqual([
      'haven-audit-signing',
      'haven-forwarder',
      'haven-janus-secrets',
      'haven-keyring',
      'haven-nats-auth',
    ]);
    for (const s of secrets) {
      expect({ name: s.metadata.name, annotations: s.metadata.annotations }).toEqual({
        name: s.metadata.name,
        annotations: expect.objectContaining({
          'helm.sh/resource-policy': 'keep',
          'haven.io/generated-once': 'true',
        }),
      });
    }
  });

  it('gives containers secrets only by reference, never as a literal value', () => {
    const literal: string[] = [];
    for (const o of template()) {
      const spec = o.spec?.template?.spec ?? (o.kind === 'Pod' ? o.spec : undefined);
      for (const c of [...(spec?.containers ?? []), ...(spec?.initContainers ?? [])] as K8sObject[]) {
        for (const e of (c.env ?? []) as K8sObject[]) {
          if (/(SECRET|PASSWORD|TOKEN|_KEY)$/.test(String(e.name)) && e.value !== undefined)
            literal.push(`${o.kind}/${o.metadata.name}: ${e.name}`);
        }
      }
    }
    expect(literal).toEqual([]);
  });

  it.each([
    ['extraEnv.HAVEN_SMTP_PASSWORD', 'extraEnv.HAVEN_SMTP_PASSWORD="hunter2-hunter2"'],
    ['services.gateway.env.OIDC_CLIENT_SECRET', 'services.gateway.env={"OIDC_CLIENT_SECRET":"s3cr3t"}'],
    ['services.session.env.VAULT_TOKEN', 'services.session.env={"VAULT_TOKEN":"hvs.x"}'],
  ])('refuses %s as a plain value, pointing at extraSecretEnv', (where, set) => {
    expect(() => template([], [set])).toThrow(
      new RegExp(`${where.replaceAll('.', '\\.')} looks like a secret: .*extraSecretEnv`),
    );
  });

  it('still takes ordinary settings whose names merely mention a secret word', () => {
    expect(() =>
      template(
        [],
        ['services.identity.env={"HAVEN_PASSWORD_MAX_AGE_DAYS":"30","HAVEN_ACCESS_TOKEN_TTL_SEC":"300"}'],
      ),
    ).not.toThrow();
  });
});
