/** The Conventional Commits types this repository uses. */
export declare const COMMIT_TYPES: readonly string[];
/** The longest subject line allowed, in characters. */
export declare const MAX_SUBJECT_LENGTH: number;
/**
 * The problems of one commit message (its subject, then its body), each a sentence; empty when it passes.
 * Lines starting with `#` are git's comments and are not part of the message.
 */
export declare function commitMessageProblems(message: string): string[];
