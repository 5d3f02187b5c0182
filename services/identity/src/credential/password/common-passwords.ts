import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseCommonPasswords } from './policy';

/** The bundled list: services/identity/data/common-passwords.txt (same path from src/ and dist/). */
export const BUNDLED_COMMON_PASSWORDS_FILE = join(
  __dirname,
  '..',
  '..',
  '..',
  'data',
  'common-passwords.txt',
);

let cached: Set<string> | undefined;

/**
 * Loads a common/breached-password list (default: the bundled one, cached).
 * Throws the fs error when the file cannot be read.
 */
export function loadCommonPasswords(file: string = BUNDLED_COMMON_PASSWORDS_FILE): ReadonlySet<string> {
  if (file === BUNDLED_COMMON_PASSWORDS_FILE) {
    cached ??= parseCommonPasswords(readFileSync(file, 'utf8'));
    return cached;
  }
  return parseCommonPasswords(readFileSync(file, 'utf8'));
}
