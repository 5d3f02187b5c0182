// One Node version everywhere: the pin the set-up fetches (scripts/use-node.sh), package.json engines, the
// service image, the README, and the Node types the code is checked against.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');

const pinned = /^HAVEN_NODE_VERSION=(\d+\.\d+\.\d+)$/m.exec(read('scripts/use-node.sh'))?.[1];
const pkg = JSON.parse(read('package.json')) as {
  engines: { node: string };
  devDependencies: Record<string, string>;
};

describe('the Node version', () => {
  it('is pinned in scripts/use-node.sh as an LTS (even) major of at least 24', () => {
    expect(pinned).toBeDefined();
    const major = Number(pinned?.split('.')[0]);
    expect(major).toBeGreaterThanOrEqual(24);
    expect(major % 2).toBe(0);
  });

  it('is the minimum of package.json engines', () => {
    expect(pkg.engines.node).toBe(`>=${pinned}`);
  });

  it('is the base of the service image', () => {
    const images = [...read('deploy/images/Dockerfile').matchAll(/^ARG NODE_IMAGE=(\S+)$/gm)].map(
      (m) => m[1],
    );
    expect(images).toEqual([`node:${pinned}-bookworm-slim`]);
  });

  it('is the one the README names', () => {
    const readme = read('README.md');
    const versions = new Set([...readme.matchAll(/\bNode (\d+(?:\.\d+\.\d+)?)\b/g)].map((m) => m[1]));
    const images = new Set([...readme.matchAll(/`node:([\d.]+)-bookworm-slim`/g)].map((m) => m[1]));
    expect([...versions].sort()).toEqual([pinned?.split('.')[0], pinned].sort());
    expect([...images]).toEqual([pinned]);
  });

  it('is the major of @types/node', () => {
    expect(pkg.devDependencies['@types/node']).toMatch(new RegExp(`^\\^${pinned?.split('.')[0]}\\.`));
  });
});
