'use strict';
// The commit-message rule, shared by scripts/check-commits.mjs (run by `npm run lint`) and its unit spec:
// Conventional Commits, `type(scope)!: description`, a subject under 100 characters (at most 99), a blank line
// before the body.

/** The Conventional Commits types this repository uses. */
const COMMIT_TYPES = [
  'build',
  'chore',
  'ci',
  'docs',
  'feat',
  'fix',
  'perf',
  'refactor',
  'revert',
  'style',
  'test',
];

/** The longest subject line allowed, in characters. */
const MAX_SUBJECT_LENGTH = 99;

const SUBJECT = new RegExp(`^(?:${COMMIT_TYPES.join('|')})(?:\\([a-z0-9][a-z0-9,./ -]*\\))?!?: \\S`);

/**
 * The problems of one commit message (its subject, then its body), each a sentence; empty when it passes.
 * Lines starting with `#` are git's comments and are not part of the message.
 */
function commitMessageProblems(message) {
  const lines = message
    .replace(/\r\n/g, '\n')
    .split('\n')
    .filter((line) => !line.startsWith('#'));
  while (lines.length > 0 && lines[lines.length - 1].trim() === '') lines.pop();
  const subject = lines[0] ?? '';
  const problems = [];
  if (subject.trim() === '') return ['the subject is empty'];
  if (!SUBJECT.test(subject)) {
    problems.push(
      `the subject is not "type(scope): description" with a type among ${COMMIT_TYPES.join(', ')}`,
    );
  }
  if ([...subject].length > MAX_SUBJECT_LENGTH) {
    problems.push(`the subject is ${[...subject].length} characters long (at most ${MAX_SUBJECT_LENGTH})`);
  }
  if (lines.length > 1 && lines[1].trim() !== '')
    problems.push('a blank line must separate the subject and the body');
  return problems;
}

module.exports = { COMMIT_TYPES, MAX_SUBJECT_LENGTH, commitMessageProblems };
