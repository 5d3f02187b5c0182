/**
 * Identity in test stacks: the environment that makes it fast and out of a suite's way, and its admin CLI
 * (`haven …`, the built `services/identity/dist/cli.js`) run as a child process.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from './repo-root';

/**
 * Identity's variables in a test stack: cheap argon2 (production keeps OWASP's cost), login throttles and key
 * rotation out of the way (MFA stays as the suite sets it). Spread it first and override what a suite tests.
 */
export const TEST_IDENTITY_ENV: Readonly<Record<string, string>> = Object.freeze({
  HAVEN_ARGON2_MEMORY_KIB: '1024',
  HAVEN_ARGON2_TIME_COST: '1',
  HAVEN_LOGIN_IP_BURST: '100000',
  HAVEN_LOGIN_IP_PER_MINUTE: '100000',
  HAVEN_SIGNING_KEY_ROTATION_DAYS: '3650',
});

/** The outcome of {@link runIdentityCli}: the exit code (-1 when killed) and stdout and stderr together. */
export interface CliResult {
  readonly code: number;
  readonly output: string;
}

/**
 * Runs identity's CLI with `env` (identity's environment: NATS user, data dir…) and `stdin` (a line, e.g. a
 * password for `--password-stdin`). Killed after 30 s. Never rejects: a failure is a non-zero `code`.
 */
export function runIdentityCli(
  args: readonly string[],
  options: { readonly env: Readonly<Record<string, string>>; readonly stdin?: string },
): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(REPO_ROOT, 'services/identity/dist/cli.js'), ...args], {
      cwd: REPO_ROOT,
      env: { PATH: process.env['PATH'] ?? '', ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    // A bound, not a timing assertion: a CLI run (node start-up, password hashing) is slow on a busy CI machine.
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, output });
    });
    child.stdin.end(options.stdin === undefined || options.stdin === '' ? '' : `${options.stdin}\n`);
  });
}
