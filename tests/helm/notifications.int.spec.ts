// The chart's patient-message values (notifications.*), rendered with the real helm: the relay, the SMS provider
// and the clinic's message settings reach scheduling (and only scheduling) as variables its own configuration
// schema accepts, secrets only as secretKeyRefs; the NetworkPolicy opens the relay's and the provider's ports
// and lets the provider's replies in through the ingress controller; the Ingress routes /sms/inbound/ to
// scheduling only with an SMS provider; impossible combinations fail with a message naming the value to set.
import { loadConfig } from '@haven/service';
import { schedulingConfigSchema } from '../../services/scheduling/src/server';
import {
  SCENARIOS,
  SECRET_PLACEHOLDER,
  egressPorts,
  ensureHelm,
  networkPolicy,
  notes,
  processEnvOf,
  serviceContainer,
  template,
  type K8sObject,
} from './helm-support';

const secretRefOf = (container: K8sObject, name: string) =>
  (container.env ?? []).find((e: K8sObject) => e.name === name)?.valueFrom?.secretKeyRef;

const policyOf = (objs: readonly K8sObject[], name: string): K8sObject => networkPolicy(objs, name)!;

beforeAll(() => ensureHelm());

describe('the hospital scenario (relay with AUTH, Twilio, passcode by SMS)', () => {
  let objs: K8sObject[];
  beforeAll(() => {
    objs = template([SCENARIOS.hospital]);
  });

  it('gives scheduling the relay, Twilio and the clinic settings, accepted by its configuration', () => {
    const container = serviceContainer(objs, 'scheduling');
    const env = processEnvOf(container);
    expect(env).toMatchObject({
      HAVEN_SMTP_URL: 'smtp://smtp-relay.hospital.example:587',
      HAVEN_SMTP_REQUIRE_TLS: 'true',
      HAVEN_SMS_PROVIDER: 'twilio',
      HAVEN_TWILIO_ACCOUNT_SID: 'AC0123456789abcdef0123456789abcdef',
      HAVEN_TWILIO_FROM: '+15550100200',
      HAVEN_PASSCODE_DELIVERY: 'sms',
      HAVEN_REMINDER_OFFSETS: '48h,2h',
      HAVEN_CLINIC_NAME: 'Riverside Hospital Telehealth',
    });
    const config = loadConfig(schedulingConfigSchema, env);
    expect(config.HAVEN_PASSCODE_DELIVERY).toBe('sms');
    expect(config.HAVEN_SMS_PROVIDER).toBe('twilio');
  });

  it('passes the relay password and the Twilio token only as secretKeyRefs, to scheduling only', () => {
    const scheduling = serviceContainer(objs, 'scheduling');
    expect(secretRefOf(scheduling, 'HAVEN_SMTP_USER')).toEqual({ name: 'haven-smtp-auth', key: 'username' });
    expect(secretRefOf(scheduling, 'HAVEN_SMTP_PASSWORD')).toEqual({
      name: 'haven-smtp-auth',
      key: 'password',
    });
    expect(secretRefOf(scheduling, 'HAVEN_TWILIO_AUTH_TOKEN')).toEqual({
      name: 'haven-twilio',
      key: 'authToken',
    });
    for (const service of ['identity', 'gateway', 'session', 'recording', 'audit']) {
      const names = (serviceContainer(objs, service).env ?? []).map((e: K8sObject) => e.name as string);
      expect({ service, names: names.filter((n: string) => /SMTP|TWILIO|SMS|PASSCODE/.test(n)) }).toEqual({
        service,
        names: [],
      });
    }
  });

  it('opens the relay port and 443 to the listed CIDRs, and the replies in from the ingress controller', () => {
    const policy = policyOf(objs, 'haven-scheduling');
    expect(egressPorts(policy)).toEqual(
      expect.arrayContaining([
        { port: 587, cidrs: ['10.50.0.0/24'] },
        { port: 443, cidrs: ['10.50.0.0/24'] },
      ]),
    );
    const fromController = (policy.spec.ingress ?? []).filter((rule: K8sObject) =>
      (rule.from ?? []).some((f: K8sObject) => f.namespaceSelector !== undefined),
    );
    expect(fromController).toHaveLength(1);
    expect(fromController[0].ports).toEqual([{ port: 8083, protocol: 'TCP' }]);
  });

  it('routes /sms/inbound/ to scheduling and everything else to the gateway', () => {
    const ingress = objs.find((o) => o.kind === 'Ingress')!;
    const paths = ingress.spec.rules[0].http.paths.map((p: K8sObject) => [p.path, p.backend.service.name]);
    expect(paths).toEqual([
      ['/sms/inbound/', 'haven-scheduling'],
      ['/', 'haven-gateway'],
    ]);
  });
});

describe('the defaults (no relay, no SMS)', () => {
  let objs: K8sObject[];
  beforeAll(() => {
    objs = template();
  });

  it('sends nothing: no relay or provider variable, no extra egress, no inbound route', () => {
    const env = processEnvOf(serviceContainer(objs, 'scheduling'));
    expect(Object.keys(env).filter((k) => /SMTP|TWILIO|SMS_/.test(k))).toEqual([]);
    expect(env['HAVEN_PASSCODE_DELIVERY']).toBe('front-desk');
    expect(loadConfig(schedulingConfigSchema, env).HAVEN_REMINDER_OFFSETS).toBe('24h,1h');
    expect(
      egressPorts(policyOf(objs, 'haven-scheduling')).map((p: { port: number }) => p.port),
    ).not.toContain(587);
    const ingress = objs.find((o) => o.kind === 'Ingress');
    const paths = (ingress?.spec.rules[0].http.paths ?? []).map((p: K8sObject) => p.path);
    expect(paths).not.toContain('/sms/inbound/');
  });

  it('renders the webhook provider with implicit TLS and no AUTH', () => {
    const env = processEnvOf(
      serviceContainer(
        template(
          [],
          [
            'notifications.smtp={"host":"mail.clinic.example","port":465,"security":"tls","from":"C <c@clinic.example>","authSecret":""}',
            'notifications.sms.provider="webhook"',
            'notifications.sms.webhook={"url":"https://sms.clinic.example/send","tokenSecret":"sms-gw"}',
            'notifications.passcodeDelivery="email"',
          ],
        ),
        'scheduling',
      ),
    );
    expect(env).toMatchObject({
      HAVEN_SMTP_URL: 'smtps://mail.clinic.example:465',
      HAVEN_SMS_PROVIDER: 'webhook',
      HAVEN_SMS_WEBHOOK_URL: 'https://sms.clinic.example/send',
      HAVEN_SMS_WEBHOOK_TOKEN: SECRET_PLACEHOLDER,
    });
    expect(env['HAVEN_SMTP_USER']).toBeUndefined();
    expect(loadConfig(schedulingConfigSchema, env).HAVEN_PASSCODE_DELIVERY).toBe('email');
  });
});

describe('impossible combinations', () => {
  it.each([
    [['notifications.passcodeDelivery="sms"'], /passcodeDelivery sms .* needs notifications.smtp.host/],
    [['notifications.sms.provider="twilio"'], /twilio needs notifications.sms.twilio.accountSid/],
    [['notifications.sms.provider="webhook"'], /webhook needs notifications.sms.webhook.url/],
    [['notifications.smtp.security="ssl"'], /security/],
    [['notifications.sms.twilio.accountSid="AC1"'], /accountSid/],
  ])('%j fails with a message naming the value', (setJson, message) => {
    const r = notes([], setJson);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(message);
  });
});
