#!/usr/bin/env node
// Builds the browser app (web/) into web/dist for production with Vite, unless web/dist is already newer than
// everything it is built from (`--force` builds anyway). Two reasons not to rebuild what is up to date: every
// `npm start` and `npm test` runs the set-up, and a rebuild empties web/dist while a running suite's gateways
// serve from it. NODE_ENV is production whatever the caller's (jest runs `npm start` in a test with NODE_ENV=test,
// which gave React's development build, StrictMode's double effects included).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const web = join(root, 'web');
const stamp = join(web, 'dist', '.vite', 'manifest.json');

/** The newest modification time under `path` (a file or a folder), 0 when it does not exist. */
function newest(path) {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let max = st.mtimeMs;
  for (const entry of readdirSync(path)) max = Math.max(max, newest(join(path, entry)));
  return max;
}

const inputs = [
  join(web, 'src'),
  join(web, 'public'),
  ...readdirSync(web)
    .filter((f) => f.endsWith('.html') || f.endsWith('.mjs') || f.endsWith('.json'))
    .map((f) => join(web, f)),
  join(root, 'package-lock.json'),
  // The one file from outside web/ that the app bundles (the template editor's field list).
  join(root, 'services', 'scheduling', 'src', 'notification', 'template-fields.ts'),
];
if (!process.argv.includes('--force') && existsSync(stamp)) {
  const built = statSync(stamp).mtimeMs;
  if (inputs.every((p) => newest(p) < built)) {
    console.log('web: up to date');
    process.exit(0);
  }
}
const vite = join(root, 'node_modules', 'vite', 'bin', 'vite.js');
const r = spawnSync(process.execPath, [vite, 'build', '--config', join(web, 'vite.config.mjs')], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, NODE_ENV: 'production' },
});
process.exit(r.status ?? 1);
