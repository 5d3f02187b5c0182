/**
 * `haven` CLI for a hospital IT person: bootstrap the first admin, invite users, reset MFA.
 * Talks to the event store directly (NATS_URL, same variables as the service) through the same
 * IdentityApp code path as the RPCs.
 *
 *   haven admin create --email it@clinic.org [--name "IT Admin"] [--password-stdin] [--if-not-exists]
 *   haven user invite --email dr@clinic.org --role clinician [--name "Dr X"] [--password-stdin] [--if-not-exists]
 *   haven mfa reset --email dr@clinic.org
 */
import { newEventId } from '@haven/eventstore';
import { HavenError, ValidationError } from '@haven/errors';
import type { IdentityApp } from './identity-app';
import type { CommandContext } from './shared/streams';
import { loadIdentityConfig } from './config';
import { ROLES } from './user/user';
import { createIdentityRuntime, type IdentityRuntime } from './wiring';

/** Where the CLI reads and writes; replaceable in tests and by the seed script. */
export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly readStdin: () => Promise<string>;
  readonly env: Readonly<Record<string, string | undefined>>;
}

const USAGE = `usage:
  haven admin create --email EMAIL [--name NAME] [--password-stdin] [--if-not-exists]
  haven user invite --email EMAIL --role ${ROLES.join('|')} [--name NAME] [--password-stdin] [--if-not-exists]
  haven mfa reset --email EMAIL

Environment: NATS_URL (default nats://127.0.0.1:4222), NATS_USER and NATS_PASSWORD (identity's NATS user) or
NATS_CREDS_FILE, NATS_TLS_CA_FILE, HAVEN_DATA_DIR.
--password-stdin reads the first password from standard input and activates the account at once;
without it an invitation token is printed for the user to activate with.
`;

class UsageError extends Error {}

function parseFlags(args: readonly string[]): Map<string, string | true> {
  const flags = new Map<string, string | true>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (!a.startsWith('--')) throw new UsageError(`unexpected argument ${a}`);
    const eq = a.indexOf('=');
    if (eq > 0) {
      flags.set(a.slice(2, eq), a.slice(eq + 1));
    } else if (['password-stdin', 'if-not-exists'].includes(a.slice(2))) {
      flags.set(a.slice(2), true);
    } else {
      const v = args[i + 1];
      if (v === undefined || v.startsWith('--')) throw new UsageError(`${a} needs a value`);
      flags.set(a.slice(2), v);
      i++;
    }
  }
  return flags;
}

function str(flags: Map<string, string | true>, name: string, required: true): string;
function str(flags: Map<string, string | true>, name: string, required: false): string | undefined;
function str(flags: Map<string, string | true>, name: string, required: boolean): string | undefined {
  const v = flags.get(name);
  if (v === undefined && required) throw new UsageError(`--${name} is required`);
  if (v === true) throw new UsageError(`--${name} needs a value`);
  return v;
}

function defaultIo(): CliIo {
  return {
    stdout: (t) => void process.stdout.write(t),
    stderr: (t) => void process.stderr.write(t),
    env: process.env,
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    },
  };
}

/**
 * Runs one CLI command; resolves with the exit code (0 ok, 1 failure, 2 usage) and never throws.
 */
export async function runCli(argv: readonly string[], io: CliIo = defaultIo()): Promise<number> {
  const [group, verb, ...rest] = argv;
  if (!group || group === 'help' || group === '--help' || group === '-h') {
    io.stdout(USAGE);
    return group ? 0 : 2;
  }
  let runtime: IdentityRuntime | undefined;
  try {
    const flags = parseFlags(rest);
    const command = `${group} ${verb ?? ''}`;
    if (!['admin create', 'user invite', 'mfa reset'].includes(command))
      throw new UsageError(`unknown command: ${command}`);
    const email = str(flags, 'email', true).trim().toLowerCase();
    const config = loadIdentityConfig(io.env);
    runtime = await createIdentityRuntime(config, { rotateKeys: false });
    const app = runtime.app;
    const ctx: CommandContext = { actor: { kind: 'service', id: 'haven-cli' }, correlationId: newEventId() };
    const existing = await app.users.findUserIdByUsername(email);

    if (command === 'mfa reset') {
      if (!existing) throw new ValidationError([{ field: 'email', description: 'no such user' }]);
      const user = await app.credentials.resetMfa(ctx, existing);
      io.stdout(`MFA reset for ${user.username} (users/${user.userId}); they enroll again at next login.\n`);
      return 0;
    }

    const role = command === 'admin create' ? 'admin' : str(flags, 'role', true);
    if (existing) {
      const user = await app.users.getUser(existing).catch(() => undefined);
      if (flags.has('if-not-exists') && user) {
        io.stdout(
          `exists: ${user.username} (users/${user.userId}, ${user.role}, ${user.status}); nothing changed.\n`,
        );
        return 0;
      }
    }
    let password: string | undefined;
    if (flags.has('password-stdin')) {
      password = (await io.readStdin()).replace(/\r?\n$/, '');
      if (password === '') throw new UsageError('--password-stdin: standard input was empty');
    }
    const displayName = str(flags, 'name', false) ?? email.split('@')[0] ?? email;
    if (password !== undefined) app.users.assertPasswordAcceptable(password, { email, displayName });
    await inviteUser(app, ctx, io, { email, displayName, role, password });
    return 0;
  } catch (error) {
    return reportError(io, error);
  } finally {
    await runtime?.close().catch(() => undefined);
  }
}

/** Invites the user and, with a password, activates them; prints the outcome (or the invitation token). */
async function inviteUser(
  app: IdentityApp,
  ctx: CommandContext,
  io: CliIo,
  input: { email: string; displayName: string; role: string; password: string | undefined },
): Promise<void> {
  const { email, displayName, role, password } = input;
  const invited = await app.users.inviteUser(ctx, { username: email, email, displayName, role });
  const expires = new Date(invited.invitationExpiresAt).toISOString();
  if (password === undefined) {
    io.stdout(
      `invited ${invited.user.role} ${invited.user.username} (users/${invited.user.userId}).\n` +
        `invitation token (give it to the user; shown once; expires ${expires}):\n${invited.invitationToken}\n`,
    );
    return;
  }
  try {
    const user = await app.users.activateUser(ctx, { invitationToken: invited.invitationToken, password });
    io.stdout(`created ${user.role} ${user.username} (users/${user.userId}), active.\n`);
  } catch (error) {
    io.stderr(
      `the user was invited but not activated; activate with this invitation token (expires ${expires}):\n${invited.invitationToken}\n`,
    );
    throw error;
  }
}

/** Prints a failure; returns the exit code (2 usage, 1 anything else). */
function reportError(io: CliIo, error: unknown): number {
  if (error instanceof UsageError) {
    io.stderr(`haven: ${error.message}\n\n${USAGE}`);
    return 2;
  }
  if (error instanceof ValidationError) {
    io.stderr(
      `haven: ${error.message}\n${error.violations.map((v) => `  - ${v.field}: ${v.description}\n`).join('')}`,
    );
    return 1;
  }
  io.stderr(
    `haven: ${error instanceof HavenError || error instanceof Error ? error.message : String(error)}\n`,
  );
  return 1;
}

if (require.main === module) {
  void runCli(process.argv.slice(2)).then((code) => process.exit(code));
}
