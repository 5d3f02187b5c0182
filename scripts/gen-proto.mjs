#!/usr/bin/env node
// Generates TypeScript for proto/ with ts-proto into packages/proto/src/gen (git-ignored).
// Skips the work when nothing changed: the hash of proto/**, buf.yaml, buf.gen.yaml, this
// script and the buf / ts-proto versions is kept in packages/proto/src/gen/.hash.
// Usage: node scripts/gen-proto.mjs [--force | --check]
//   --force  regenerate even when the hash matches
//   --check  write nothing; exit 1 when the generated code is missing or stale
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const protoDir = join(root, 'proto');
const outDir = join(root, 'packages', 'proto', 'src', 'gen');
const hashFile = join(outDir, '.hash');
const bin = (name) => join(root, 'node_modules', '.bin', process.platform === 'win32' ? `${name}.cmd` : name);
const version = (pkg) =>
  JSON.parse(readFileSync(join(root, 'node_modules', pkg, 'package.json'), 'utf8')).version;

/** Every file under `dir`, sorted, as paths relative to the repository root with `/` separators. */
function listFiles(dir) {
  const out = [];
  const walk = (d) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (entry.isFile()) out.push(relative(root, p).split(sep).join('/'));
    }
  };
  walk(dir);
  return out.sort();
}

function inputHash() {
  const h = createHash('sha256');
  h.update(`buf ${version('@bufbuild/buf')}\nts-proto ${version('ts-proto')}\n`);
  const inputs = [
    ...listFiles(protoDir),
    'buf.yaml',
    'buf.gen.yaml',
    relative(root, fileURLToPath(import.meta.url)),
  ];
  for (const file of inputs) {
    h.update(`${file}\0`);
    h.update(readFileSync(join(root, file)));
    h.update('\0');
  }
  return h.digest('hex');
}

const force = process.argv.includes('--force');
const check = process.argv.includes('--check');
const hash = inputHash();
const upToDate = existsSync(hashFile) && readFileSync(hashFile, 'utf8').trim() === hash;
if (check) {
  process.stdout.write(upToDate ? 'gen-proto: up to date\n' : 'gen-proto: stale, run `npm run gen`\n');
  process.exit(upToDate ? 0 : 1);
}
if (!force && upToDate) {
  process.stdout.write('gen-proto: up to date\n');
  process.exit(0);
}

rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });
const started = Date.now();
const result = spawnSync(bin('buf'), ['generate', 'proto', '--template', 'buf.gen.yaml'], {
  cwd: root,
  stdio: 'inherit',
});
if (result.error) throw result.error;
if (result.status !== 0) {
  rmSync(outDir, { recursive: true, force: true });
  process.stderr.write(`gen-proto: buf generate failed (exit ${result.status})\n`);
  process.exit(result.status ?? 1);
}
writeFileSync(hashFile, `${hash}\n`);
process.stdout.write(`gen-proto: generated ${relative(root, outDir)} in ${Date.now() - started} ms\n`);
