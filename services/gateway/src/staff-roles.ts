/** Staff roles as the browser names them, and back: identity's Role enum ⇄ 'admin' | 'clinician' | … */
import { identity } from '@haven/proto';
import type { StaffRoleName } from './account-view';

/** Identity's role → the name the pages use. */
export const ROLE_NAMES: Readonly<Record<number, StaffRoleName>> = {
  [identity.Role.ROLE_ADMIN]: 'admin',
  [identity.Role.ROLE_CLINICIAN]: 'clinician',
  [identity.Role.ROLE_FRONT_DESK]: 'front_desk',
  [identity.Role.ROLE_AUDITOR]: 'auditor',
};

/** A page's role name → identity's role (only the four staff roles). */
export const ROLE_OF_NAME: ReadonlyMap<string, identity.Role> = new Map(
  Object.entries(ROLE_NAMES).map(([k, v]) => [v, Number(k) as identity.Role]),
);

/** The page's name of `role`, 'unknown' for anything else. */
export const roleName = (role: number | undefined): StaffRoleName | 'unknown' =>
  ROLE_NAMES[role ?? 0] ?? 'unknown';
