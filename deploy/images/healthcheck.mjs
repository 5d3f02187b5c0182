#!/usr/bin/env node
// gRPC health check used by the chart's `helm test` pod (inside the Haven image, so no separate
// grpc-health-probe image is needed in an offline registry).
//
//   node deploy/images/healthcheck.mjs [--timeout-ms=5000] host:port[/service] ...
//
// Calls grpc.health.v1.Health/Check on every target (service "" = the whole server, unless a
// service name follows the slash), prints one line per target and exits 0 only when every
// target answers SERVING. Exit 1: some target is not serving or unreachable; exit 2: bad usage.
import grpc from '@grpc/grpc-js';
import healthCheck from 'grpc-health-check';

const USAGE = 'usage: healthcheck.mjs [--timeout-ms=N] host:port[/service] ...';

function parseArgs(argv) {
  let timeoutMs = 5000;
  const targets = [];
  for (const arg of argv) {
    const m = /^--timeout-ms=(\d+)$/.exec(arg);
    if (m) {
      timeoutMs = Number(m[1]);
    } else if (/^[A-Za-z0-9.\-[\]:]+:\d+(\/[A-Za-z0-9._]*)?$/.test(arg)) {
      const slash = arg.indexOf('/');
      targets.push(
        slash < 0
          ? { address: arg, service: '' }
          : { address: arg.slice(0, slash), service: arg.slice(slash + 1) },
      );
    } else {
      return { error: `unknown argument ${JSON.stringify(arg)}` };
    }
  }
  if (targets.length === 0) return { error: 'no target given' };
  if (timeoutMs < 1 || timeoutMs > 600_000) return { error: '--timeout-ms must be between 1 and 600000' };
  return { timeoutMs, targets };
}

const HealthClient = grpc.makeGenericClientConstructor(healthCheck.service, 'Health');

function check({ address, service }, timeoutMs) {
  return new Promise((resolve) => {
    const client = new HealthClient(address, grpc.credentials.createInsecure());
    const deadline = new Date(Date.now() + timeoutMs);
    client.Check({ service }, { deadline }, (err, res) => {
      client.close();
      if (err)
        resolve({ ok: false, detail: `${grpc.status[err.code] ?? err.code}: ${err.details || err.message}` });
      else resolve({ ok: res.status === 'SERVING', detail: String(res.status) });
    });
  });
}

const parsed = parseArgs(process.argv.slice(2));
if ('error' in parsed) {
  process.stderr.write(`healthcheck: ${parsed.error}\n${USAGE}\n`);
  process.exit(2);
}
const results = await Promise.all(parsed.targets.map((t) => check(t, parsed.timeoutMs)));
let failed = 0;
parsed.targets.forEach((t, i) => {
  const r = results[i];
  if (!r.ok) failed += 1;
  process.stdout.write(
    `${r.ok ? 'ok  ' : 'FAIL'} ${t.address}${t.service ? `/${t.service}` : ''} ${r.detail}\n`,
  );
});
process.exit(failed === 0 ? 0 : 1);
