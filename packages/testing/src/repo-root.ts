import { join } from 'node:path';

/** The repository root (this file is `packages/testing/{src,dist}/repo-root.*`). */
export const REPO_ROOT = join(__dirname, '..', '..', '..');
