/**
 * The fault suite's stack (@haven/testing's `launchStack` with `natsProxy`): a real nats-server (JetStream), the
 * TCP fault proxy in front of it, and the built scheduling, audit and session services as child processes that
 * reach NATS only through the proxy. Every part can be hurt the way an operator's worst day does: nats-server
 * killed (-9) and restarted on the same port and data, stopped (SIGSTOP) and continued; a service killed (-9)
 * and restarted on the same port and data; the network slowed, reset, cut or black-holed (see the fault proxy). Tokens come from a test issuer the services trust
 * through a JWKS endpoint on 127.0.0.1.
 */
import type { NatsConnection } from 'nats';
import { audit, scheduling } from '@haven/proto';
import { clientCallMetadata } from '@haven/service';
import { createTestIssuer, type TestIssuer } from '@haven/service/testing';
import {
  type FaultProxy,
  type JwksServer,
  type LaunchedStack,
  launchStack,
  readAuditLedger,
  serveJwks,
  type StackService as LaunchedService,
} from '@haven/testing';

/** A service of the stack. */
export interface StackService {
  readonly name: string;
  readonly port: number;
  /** kill -9. */
  crash(): Promise<void>;
  /** Starts it again (same port, same data); resolves once SERVING. */
  restart(): Promise<void>;
  output(): string;
}

/** The running stack. */
export interface FaultStack {
  readonly natsPort: number;
  readonly proxy: FaultProxy;
  readonly scheduling: StackService;
  readonly audit: StackService | undefined;
  /** The session service (its booking consumer opens a visit per booking), when it runs. */
  readonly session: StackService | undefined;
  readonly issuer: TestIssuer;
  readonly schedulingClient: scheduling.SchedulingServiceClient;
  /** nats-server: kill -9 and start again on the same port and data. */
  crashNats(): Promise<void>;
  restartNats(): Promise<void>;
  /** SIGSTOP / SIGCONT of nats-server. */
  pauseNats(): Promise<void>;
  resumeNats(): Promise<void>;
  /** A plain nats.js connection straight to nats-server (not through the proxy), for the checker. */
  connectNats(): Promise<NatsConnection>;
  /** Every event id of the audit ledger, oldest first (undefined without an audit service). */
  ledgerIds(): Promise<string[] | undefined>;
  token(role: 'front_desk' | 'auditor'): Promise<string>;
  logs(lines?: number): string;
  stop(): Promise<void>;
}

/** Options of {@link startFaultStack}. */
export interface FaultStackOptions {
  /** Run the audit service too (default true). */
  readonly audit?: boolean;
  /** Run the session service (and a Janus for it) too: every booking opens a visit (default true). */
  readonly session?: boolean;
  /**
   * When a (re)started scheduling or audit service counts as back: `serving` (default) once its whole-server
   * health is SERVING, i.e. its consumers caught up; `liveness` once it serves at all. The soak's unthrottled
   * load over a 30 ms network keeps sequential consumers behind for minutes, so it restarts on liveness and
   * leaves catching up to the settle. The session service is always back on liveness.
   */
  readonly restartReadiness?: 'serving' | 'liveness';
}

/**
 * Starts nats-server, the proxy, scheduling (and audit). Throws when a part does not start (everything started
 * is stopped; the message carries the logs).
 */
export async function startFaultStack(options: FaultStackOptions = {}): Promise<FaultStack> {
  const issuer = createTestIssuer();
  let jwks: JwksServer | undefined;
  let launched: LaunchedStack | undefined;
  const stoppers: (() => Promise<void>)[] = [];
  const stopAll = async (): Promise<void> => {
    for (const s of stoppers.reverse()) await s().catch(() => undefined);
    await launched?.stop();
    await jwks?.close();
  };
  try {
    jwks = await serveJwks(issuer.jwks);
    // The test harness's nats-server: authenticated and provisioned like production; the services reach it
    // through the proxy with their own NATS users.
    launched = await launchStack({
      services: [
        'scheduling',
        ...(options.audit === false ? [] : (['audit'] as const)),
        ...(options.session === false ? [] : (['session'] as const)),
      ],
      natsProxy: true,
      jwksUrl: jwks.url,
      janus: { eventHandler: false },
      logLevel: 'warn',
      commonEnv: { HAVEN_SHUTDOWN_GRACE_MS: '500' },
      // The session service's booking consumer may be thousands of bookings behind after a kill -9 under this
      // load: the restart is back once the process serves (liveness); the settle checks that it catches up.
      healthService:
        options.restartReadiness === 'liveness'
          ? { scheduling: 'liveness', audit: 'liveness', session: 'liveness' }
          : { session: 'liveness' },
      // The launcher's bound on waiting (60 s), not an assertion: with bcrypt per NATS connection and catch-up, a
      // start on a loaded 2-core machine can take tens of seconds.
    });
    const stack = launched;
    const nats = stack.nats;
    const proxy = stack.proxy!;
    const asService = (s: LaunchedService | undefined): StackService | undefined =>
      s && {
        name: s.name,
        port: s.grpcPort!,
        crash: () => s.signal('SIGKILL'),
        restart: () => s.start(),
        output: () => s.output(),
      };
    const schedulingService = asService(stack.service('scheduling'))!;
    const auditService = asService(stack.services.get('audit'));
    const sessionService = asService(stack.services.get('session'));
    const schedulingClient = new scheduling.SchedulingServiceClient(
      `127.0.0.1:${schedulingService.port}`,
      stack.pki.grpcCredentials('integration'),
    );
    stoppers.push(async () => schedulingClient.close());
    const auditClient = auditService
      ? new audit.AuditServiceClient(
          `127.0.0.1:${auditService.port}`,
          stack.pki.grpcCredentials('integration'),
        )
      : undefined;
    if (auditClient) stoppers.push(async () => auditClient.close());

    const tokens = new Map<string, { token: string; until: number }>();
    const token = async (role: 'front_desk' | 'auditor'): Promise<string> => {
      const cached = tokens.get(role);
      if (cached && cached.until > Date.now()) return cached.token;
      const fresh = await issuer.sign({ sub: `u-fault-${role}`, role }, { expiresIn: '10m' });
      tokens.set(role, { token: fresh, until: Date.now() + 5 * 60_000 });
      return fresh;
    };

    return {
      natsPort: nats.port,
      proxy,
      scheduling: schedulingService,
      audit: auditService,
      session: sessionService,
      issuer,
      schedulingClient,
      crashNats: () => nats.down({ signal: 'SIGKILL' }),
      restartNats: () => nats.up(),
      pauseNats: () => nats.pause(),
      resumeNats: () => nats.resume(),
      connectNats: () => nats.connect(),
      async ledgerIds() {
        if (!auditClient) return undefined;
        const entries = await readAuditLedger(
          auditClient,
          async () => clientCallMetadata({ token: await token('auditor') }),
          { maxPages: 10_000, deadlineMs: 20_000 },
        );
        return entries.map((e) => e.name.slice('auditEvents/'.length));
      },
      token,
      logs: (lines = 30) => stack.logs(lines),
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
