/** Service-account commands and decide(): pure. The handler hashes and stores the client secret itself. */
import { AlreadyExistsError, PreconditionError, ValidationError } from '@haven/errors';
import {
  RESERVED_SCOPES,
  SCOPE_PATTERN,
  type ServiceAccountEvent,
  type ServiceAccountState,
} from './service-account';

export type ServiceAccountCommand =
  | {
      type: 'CreateServiceAccount';
      data: { serviceAccountId: string; displayName: string; scopes: readonly string[]; now: number };
    }
  | { type: 'RotateServiceAccountSecret'; data: { now: number } };

/**
 * Decides a service-account command. Throws ValidationError on a missing name or bad/reserved scopes,
 * AlreadyExistsError when creating an existing account, PreconditionError when rotating a missing one.
 */
export function decideServiceAccount(
  command: ServiceAccountCommand,
  state: ServiceAccountState,
): ServiceAccountEvent[] {
  const at = new Date(command.data.now).toISOString();
  if (command.type === 'CreateServiceAccount') {
    const d = command.data;
    if (state.status !== 'none') throw new AlreadyExistsError('service account already exists');
    const violations: { field: string; description: string }[] = [];
    const displayName = d.displayName.trim();
    if (displayName === '' || displayName.length > 200)
      violations.push({
        field: 'service_account.display_name',
        description: 'required, at most 200 characters',
      });
    if (d.scopes.length === 0 || d.scopes.length > 50)
      violations.push({ field: 'service_account.scopes', description: '1–50 scopes required' });
    for (const scope of d.scopes) {
      if (!SCOPE_PATTERN.test(scope) || RESERVED_SCOPES.includes(scope))
        violations.push({
          field: 'service_account.scopes',
          description: `invalid or reserved scope: ${scope.slice(0, 64)}`,
        });
    }
    if (violations.length > 0) throw new ValidationError(violations);
    return [
      {
        type: 'ServiceAccountCreated',
        data: {
          serviceAccountId: d.serviceAccountId,
          displayName,
          clientId: d.serviceAccountId,
          scopes: [...new Set(d.scopes)].sort(),
          at,
        },
      },
    ];
  }
  if (state.status === 'none') throw new PreconditionError('service account not found');
  return [{ type: 'ServiceAccountSecretRotated', data: { serviceAccountId: state.serviceAccountId, at } }];
}
