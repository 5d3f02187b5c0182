#!/usr/bin/env node
// Checks the message of every commit made after the cut-off (Conventional Commits, subject under 100
// characters; see commit-message.cjs). Older commits predate the rule and are left as they are.
//
//   node scripts/check-commits.mjs              commits after the cut-off below that HEAD contains
//   node scripts/check-commits.mjs --since REF  commits after REF instead (e.g. main, on a branch)
//
// Outside a git checkout (a source tarball) it checks nothing; without the cut-off in the history (a shallow
// clone) it checks the last 50 commits committed after the cut-off's date.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { commitMessageProblems } = require('./commit-message.cjs');

/** The last commit before the rule (the newest one landed before it): every commit after it is checked. */
const CUTOFF = 'c3e57f91f7fb83fd34cb03ecf8f8273bf758a2b6';
const CUTOFF_DATE = '2026-12-06T08:19:33+00:00';
const FALLBACK_COUNT = 50;
/**
 * Commits on main that break the rule and can no longer be reworded (main is never rewritten), each with why.
 * Only ever add to this list for a commit already landed; a branch fixes its own commits instead.
 */
const LANDED_EXCEPTIONS = new Map([
  [
    'b4611757efe174282ea155d463c8b8cb23132d12',
    'subject of 100 characters, landed before the check ran on it',
  ],
  [
    'e87733ae60a3750d792d8e1e0b9100607234f1bc',
    'subject of 102 characters, landed when the check ran piped into tail and its problem went unread',
  ],
  [
    '029b94321bea4456d04bac5fd91b1aaccda267c3',
    'subject of 100 characters, landed when the merge was chained after the check with ; instead of &&',
  ],
]);

function git(...args) {
  return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
}

function has(ref) {
  try {
    git('cat-file', '-e', `${ref}^{commit}`);
    return true;
  } catch {
    return false;
  }
}

function main(argv) {
  const at = argv.indexOf('--since');
  const since = at >= 0 ? argv[at + 1] : CUTOFF;
  if (at >= 0 && !since) throw new Error('check-commits: --since needs a ref');
  if (!has('HEAD')) {
    console.log('check-commits: not a git checkout, nothing to check');
    return 0;
  }
  let range = [`${since}..HEAD`];
  if (!has(since)) {
    console.log(
      `check-commits: ${since} is not in this history; checking the last ${FALLBACK_COUNT} commits after ${CUTOFF_DATE}`,
    );
    range = ['-n', String(FALLBACK_COUNT), `--since=${CUTOFF_DATE}`, 'HEAD'];
  }
  const records = git('log', '--format=%h%x00%B%x1e', ...range)
    .split('\x1e')
    .map((record) => record.replace(/^\n/, ''))
    .filter((record) => record.length > 0);
  let failed = 0;
  for (const record of records) {
    const [hash, message = ''] = record.split('\x00');
    if ([...LANDED_EXCEPTIONS.keys()].some((full) => full.startsWith(hash))) continue;
    const problems = commitMessageProblems(message);
    if (problems.length === 0) continue;
    failed += 1;
    console.log(`${hash} ${message.split('\n')[0]}\n  ${problems.join('\n  ')}`);
  }
  console.log(`check-commits: ${records.length} commit(s) checked, ${failed} with a problem`);
  return failed === 0 ? 0 : 1;
}

process.exitCode = main(process.argv.slice(2));
