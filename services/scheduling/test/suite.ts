/**
 * Test support: the scheduling service in process over a real nats-server, with the suite's JWKS, a gRPC
 * client and a second connection to the event store — what scheduling's integration suites share. Also a local
 * SMS gateway stand-in (the webhook adapter's peer) and the SMTP variables for a local mail catcher.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import type { NatsConnection } from 'nats';
import type { EventStore, JetStreamEventStore } from '@haven/eventstore';
import { scheduling } from '@haven/proto';
import { createLogger, type Logger } from '@haven/service';
import type { TestIssuer } from '@haven/service/testing';
import {
  catcherSmtpEnv,
  localClient,
  serveHttpStandIn,
  serveJwks,
  startMailCatcher,
  startNatsServer,
  type MailCatcher,
  type JwksServer,
  type NatsServerHandle,
  type StartNatsServerOptions,
  suiteStore,
} from '@haven/testing';
import { startScheduling, type RunningScheduling, type StartSchedulingOptions } from '../src/server';
import { testSchedulingConfig } from '../src/testing';

/** What a suite starts scheduling with. */
export interface SchedulingSuiteOptions {
  /** Signs the staff tokens the service accepts (its HAVEN_JWKS_URL). */
  readonly issuer: TestIssuer;
  /** Signs patient tokens (HAVEN_PATIENT_JWKS_URL), when the suite needs a second issuer. */
  readonly patientIssuer?: TestIssuer;
  /** The temporary data directory's name prefix, e.g. `haven-outbox-`. */
  readonly dataDirPrefix: string;
  /** Variables over the test defaults (`testSchedulingConfig`). */
  readonly env?: Readonly<Record<string, string>>;
  /** Defaults to a silent logger. */
  readonly logger?: Logger;
  readonly wrapStore?: (store: EventStore) => EventStore;
  /** Timing of the booking reconciler (the service's default unless given). */
  readonly reconciler?: StartSchedulingOptions['reconciler'];
  /** How the suite's nats-server starts (e.g. a short duplicate window on the provisioned streams). */
  readonly nats?: StartNatsServerOptions;
}

/** A running scheduling service and what a suite talks to it with. */
export interface SchedulingSuite {
  readonly nats: NatsServerHandle;
  /** The JWKS the service trusts for staff tokens (HAVEN_JWKS_URL). */
  readonly jwksUrl: string;
  readonly dataDir: string;
  readonly service: RunningScheduling;
  readonly client: scheduling.SchedulingServiceClient;
  /** The suite's own view of the event store (to read what the service wrote, or play another context). */
  readonly store: JetStreamEventStore;
  readonly connection: NatsConnection;
  /** Call metadata carrying a staff token for `sub` with `role`. */
  as(sub: string, role: string): Promise<grpc.Metadata>;
  /** Stops everything it started and removes the data directory. */
  stop(): Promise<void>;
}

/** Starts nats-server, the JWKS server(s) and scheduling; `stop()` undoes all of it. */
export async function startSchedulingSuite(options: SchedulingSuiteOptions): Promise<SchedulingSuite> {
  const nats = await startNatsServer(options.nats);
  const jwks: JwksServer[] = [await serveJwks(options.issuer.jwks)];
  if (options.patientIssuer) jwks.push(await serveJwks(options.patientIssuer.jwks));
  const dataDir = mkdtempSync(join(tmpdir(), options.dataDirPrefix));
  const config = testSchedulingConfig(
    nats.env('scheduling'),
    { jwksUrl: jwks[0]!.url, dataDir },
    { ...(jwks[1] ? { HAVEN_PATIENT_JWKS_URL: jwks[1].url } : {}), ...options.env },
  );
  const service = await startScheduling(
    config,
    options.logger ?? createLogger({ service: 'scheduling', level: 'silent' }),
    {
      host: '127.0.0.1',
      ...(options.wrapStore ? { wrapStore: options.wrapStore } : {}),
      ...(options.reconciler ? { reconciler: options.reconciler } : {}),
    },
  );
  const client = localClient(scheduling.SchedulingServiceClient, service.port);
  const { connection, store } = await suiteStore(nats);
  return {
    nats,
    jwksUrl: jwks[0]!.url,
    dataDir,
    service,
    client,
    store,
    connection,
    as: (sub, role) => options.issuer.metadata({ sub, role }),
    async stop() {
      client.close();
      await service.stop();
      await connection.close();
      await nats.stop();
      for (const server of jwks) await server.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The front desk's calls (@haven/testing's, here for the suites). */
export { bookVisit, createPatient, issueLink, startIn, type Desk } from '@haven/testing';

/** The variables that send scheduling's e-mail to a local catcher (@haven/testing's, here for the suites). */
export { catcherSmtpEnv } from '@haven/testing';

/** One text the SMS gateway stand-in accepted. */
export interface SmsSent {
  readonly to: string;
  readonly text: string;
  readonly idempotencyKey: string;
}

/** A local SMS gateway for the webhook adapter: what it accepted, and the variables that point scheduling at it. */
export interface SmsGatewayStandIn {
  readonly sent: SmsSent[];
  readonly env: Record<string, string>;
  close(): Promise<void>;
}

/**
 * Starts the stand-in on loopback. With `token`, a request without `Authorization: Bearer <token>` is answered
 * 401 and not kept; every kept request is answered 202.
 */
export async function startSmsGatewayStandIn(token: string): Promise<SmsGatewayStandIn> {
  const sent: SmsSent[] = [];
  const server = await serveHttpStandIn((req, body, res) => {
    if (req.headers.authorization !== `Bearer ${token}`) return void res.writeHead(401).end();
    sent.push(JSON.parse(body.toString('utf8')) as SmsSent);
    res.writeHead(202).end('{}');
  });
  return {
    sent,
    env: { HAVEN_SMS_WEBHOOK_URL: `${server.origin}/send`, HAVEN_SMS_WEBHOOK_TOKEN: token },
    close: () => server.close(),
  };
}

/** A scheduling suite that sends its e-mail to a local catcher and its SMS to the gateway stand-in. */
export interface NotifyingSuite extends SchedulingSuite {
  readonly catcher: MailCatcher;
  readonly sms: SmsGatewayStandIn;
  /** Stops the suite, then closes the catcher and the stand-in. */
  stop(): Promise<void>;
}

/**
 * Starts a mail catcher, the SMS gateway stand-in (accepting `smsToken`) and a scheduling suite pointed at both,
 * e-mail sent from `mailFrom`; `options.env` comes over those variables.
 */
export async function startNotifyingSuite(
  options: SchedulingSuiteOptions & { readonly mailFrom: string; readonly smsToken: string },
): Promise<NotifyingSuite> {
  const catcher = await startMailCatcher();
  const sms = await startSmsGatewayStandIn(options.smsToken);
  const closeStandIns = async () => {
    await catcher.close();
    await sms.close();
  };
  const suite = await startSchedulingSuite({
    ...options,
    env: { ...catcherSmtpEnv(catcher, options.mailFrom), ...sms.env, ...options.env },
  }).catch(async (error: unknown) => {
    await closeStandIns();
    throw error;
  });
  return {
    ...suite,
    catcher,
    sms,
    async stop() {
      await suite.stop();
      await closeStandIns();
    },
  };
}
