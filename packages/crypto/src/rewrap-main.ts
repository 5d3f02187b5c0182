/**
 * `haven-kms-rewrap`: KEK rotation from the command line (and the entry the recording service's job runs).
 *
 *   haven-kms-rewrap --keys items.jsonl --journal journal.jsonl [--rate 200]
 *       items.jsonl: one `{ "id", "wrappedKey": { "kekId", "ciphertext" }, "context"? }` per line.
 *       Re-wraps each key under the current KEK; journal.jsonl gets `{ "id", "wrappedKey" }` per key (fsynced).
 *       Killed, run the same command again: it resumes from the journal.
 *   haven-kms-rewrap --files files.jsonl
 *       files.jsonl: one `{ "path", "context"? }` per line; rewrites each file's key slot in place.
 *   haven-kms-rewrap --key-store <dir>
 *       A key store's directory (the recording service's `recording-keys`, the per-patient keys): re-wraps each
 *       key file in place. Killed, run the same command again: it skips the files already done.
 *
 * The KMS comes from the environment: HAVEN_KMS (local | pkcs11 | vault-transit) and its variables. With
 * `--keys` or `--key-store`, HAVEN_FROM_KMS moves the keys from another KMS into that one (e.g. the local keyring into an HSM):
 * the source's variables are the same names with FROM_ after HAVEN_ (HAVEN_FROM_KMS=local,
 * HAVEN_FROM_KEYRING_FILE=…); the journal makes the move resumable like a rotation.
 * Prints a JSON summary on stdout. Exit 0 when done, 1 on an error, 2 on bad usage.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { KmsContext } from './kms';
import { openKmsFromEnv } from './kms-config';
import { rewrapKeyStore } from './patient-keys';
import { rewrapFiles, rewrapKeys, type RewrapFileItem, type RewrapItem } from './rewrap';

const USAGE =
  'usage: haven-kms-rewrap --keys <items.jsonl> --journal <journal.jsonl> [--rate <per second>]\n' +
  '       haven-kms-rewrap --files <files.jsonl>\n' +
  '       haven-kms-rewrap --key-store <dir>\n';

async function* jsonLines<T>(path: string, check: (value: unknown) => value is T): AsyncGenerator<T> {
  const lines = createInterface({ input: createReadStream(path, 'utf8'), crlfDelay: Infinity });
  let n = 0;
  for await (const line of lines) {
    n += 1;
    if (line.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new Error(`${path}:${n}: not JSON`);
    }
    if (!check(value)) throw new Error(`${path}:${n}: not the expected shape`);
    yield value;
  }
}

function isContext(value: unknown): value is KmsContext | undefined {
  return (
    value === undefined ||
    (typeof value === 'object' && value !== null && Object.values(value).every((v) => typeof v === 'string'))
  );
}

function isItem(value: unknown): value is RewrapItem {
  const v = value as Partial<RewrapItem> | null;
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof v.id === 'string' &&
    typeof v.wrappedKey?.kekId === 'string' &&
    typeof v.wrappedKey.ciphertext === 'string' &&
    isContext(v.context)
  );
}

function isFileItem(value: unknown): value is RewrapFileItem {
  const v = value as Partial<RewrapFileItem> | null;
  return typeof v === 'object' && v !== null && typeof v.path === 'string' && isContext(v.context);
}

/** The source KMS's variables (HAVEN_FROM_X → HAVEN_X), or undefined when HAVEN_FROM_KMS is not set. */
function sourceEnv(env: Readonly<Record<string, string | undefined>>): Record<string, string> | undefined {
  if ((env['HAVEN_FROM_KMS'] ?? '') === '') return undefined;
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (name.startsWith('HAVEN_FROM_') && value !== undefined) out[`HAVEN_${name.slice(11)}`] = value;
  }
  return out;
}

/** Runs the CLI with `argv` (without node and script). Resolves with the exit code. */
export async function runRewrapCli(
  argv: readonly string[],
  io: {
    env: Readonly<Record<string, string | undefined>>;
    out: (text: string) => void;
    err: (text: string) => void;
  },
): Promise<number> {
  const args = new Map<string, string>();
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i]!;
    const value = argv[i + 1];
    if (!['--keys', '--journal', '--rate', '--files', '--key-store'].includes(name) || value === undefined) {
      io.err(USAGE);
      return 2;
    }
    args.set(name, value);
  }
  const keys = args.get('--keys');
  const journal = args.get('--journal');
  const files = args.get('--files');
  const keyStore = args.get('--key-store');
  const rate = args.get('--rate') === undefined ? undefined : Number(args.get('--rate'));
  const fromEnv = sourceEnv(io.env);
  if (
    [keys, files, keyStore].filter((a) => a !== undefined).length !== 1 ||
    (fromEnv !== undefined && files !== undefined) ||
    (keys !== undefined && journal === undefined) ||
    (rate !== undefined && !(rate > 0))
  ) {
    io.err(USAGE);
    return 2;
  }
  try {
    const kms = await openKmsFromEnv(io.env);
    const from =
      fromEnv === undefined
        ? undefined
        : await openKmsFromEnv(fromEnv).catch(async (error: unknown) => {
            await kms.close();
            throw error;
          });
    try {
      if (keys !== undefined) {
        const progress = await rewrapKeys({
          kms,
          ...(from === undefined ? {} : { from }),
          items: jsonLines(keys, isItem),
          journalFile: journal!,
          ...(rate === undefined ? {} : { ratePerSecond: rate }),
        });
        io.out(`${JSON.stringify(progress)}\n`);
      } else if (keyStore !== undefined) {
        const progress = await rewrapKeyStore({
          kms,
          ...(from === undefined ? {} : { from }),
          dir: keyStore,
        });
        io.out(`${JSON.stringify(progress)}\n`);
      } else {
        const switched = await rewrapFiles(kms, jsonLines(files!, isFileItem));
        io.out(`${JSON.stringify({ kekId: await kms.currentKekId(), switched })}\n`);
      }
    } finally {
      await kms.close();
      await from?.close();
    }
    return 0;
  } catch (error) {
    io.err(`haven-kms-rewrap: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}

if (require.main === module) {
  void runRewrapCli(process.argv.slice(2), {
    env: process.env,
    out: (t) => process.stdout.write(t),
    err: (t) => process.stderr.write(t),
  }).then((code) => {
    process.exitCode = code;
  });
}
