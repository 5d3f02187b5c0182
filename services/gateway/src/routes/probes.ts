/**
 * Health probes: `/healthz` (the process answers) and `/readyz` (identity, scheduling and — when configured —
 * session answer their gRPC health checks, and the gateway's own event consumers are live).
 */
import type { Express } from 'express';
import type { ConsumerHealth } from '@haven/eventstore';
import type { GatewayClients } from '../context';
import { checkGrpcHealth } from '../health';

/** Options of {@link registerProbes}. */
export interface ProbeOptions {
  readonly clients: GatewayClients;
  /** Deadline of each readiness health check. */
  readonly deadlineMs: number;
  /** The gateway's own event consumers: /readyz fails while one is not live. */
  readonly consumers?: Pick<ConsumerHealth, 'ready' | 'statuses'> | undefined;
}

/** Registers GET /healthz and GET /readyz on the app. */
export function registerProbes(app: Express, options: ProbeOptions): void {
  const { clients, consumers } = options;
  const check = { deadlineMs: options.deadlineMs };

  app.get('/healthz', (_req, res) => {
    res.status(200).json({ status: 'ok' });
  });

  app.get('/readyz', async (_req, res) => {
    const [identityUp, schedulingUp, sessionUp] = await Promise.all([
      checkGrpcHealth(clients.identity, check),
      checkGrpcHealth(clients.scheduling, check),
      clients.session ? checkGrpcHealth(clients.session, check) : Promise.resolve(undefined),
    ]);
    const consumersUp = consumers?.ready ?? true;
    const ready = identityUp && schedulingUp && sessionUp !== false && consumersUp;
    res.status(ready ? 200 : 503).json({
      status: ready ? 'ready' : 'not ready',
      checks: {
        identity: identityUp,
        scheduling: schedulingUp,
        ...(sessionUp !== undefined ? { session: sessionUp } : {}),
        ...(consumers
          ? { consumers: Object.fromEntries(consumers.statuses().map((c) => [c.name, c.state === 'live'])) }
          : {}),
      },
    });
  });
}
