import { POLICY, ROLES } from './policy';
import type { MethodPolicy, RestrictedPolicy } from './policy';

/** What {@link authorize} needs to know about a caller (a structural subset of @haven/service's Principal). */
export interface AuthorizationSubject {
  /** `user`, `patient`, `service_account` or `service`. */
  readonly kind: string;
  /** Staff role, for users. */
  readonly role?: string | undefined;
  /** Service-account scopes. */
  readonly scopes: readonly string[];
}

/** The outcome of {@link authorize}. `reason` is PHI-free and safe to send to the caller. */
export type AuthorizationDecision =
  { readonly allowed: true } | { readonly allowed: false; readonly reason: string };

const ALLOWED: AuthorizationDecision = Object.freeze({ allowed: true });

function shortName(method: string): string {
  const m = /^\/(?:[a-z0-9_]+\.)*([A-Za-z0-9_]+)\/([A-Za-z0-9_]+)$/.exec(method);
  return m ? `${m[1]}/${m[2]}` : 'this method';
}

/** The table entry of a method, or undefined when it has none. Throws nothing. */
export function policyOf(method: string): MethodPolicy | undefined {
  return Object.prototype.hasOwnProperty.call(POLICY, method) ? POLICY[method] : undefined;
}

function admits(policy: RestrictedPolicy, subject: AuthorizationSubject): boolean {
  switch (subject.kind) {
    case 'user':
      if (policy.self === true) return true;
      return subject.role !== undefined && (policy.roles ?? []).some((r) => r === subject.role);
    case 'patient':
    case 'guest':
    case 'service':
      return (policy.kinds ?? []).some((k) => k === subject.kind);
    case 'service_account':
      return (
        (policy.kinds ?? []).includes('service_account') &&
        (policy.scopes ?? []).some((s) => subject.scopes.includes(s))
      );
    default:
      return false;
  }
}

function describe(subject: AuthorizationSubject): string {
  if (subject.kind === 'user') {
    return subject.role !== undefined && (ROLES as readonly string[]).includes(subject.role)
      ? `role ${subject.role}`
      : 'a user without a known role';
  }
  if (subject.kind === 'service_account') return 'a service account without a scope for it';
  if (subject.kind === 'patient' || subject.kind === 'guest' || subject.kind === 'service')
    return `a ${subject.kind} principal`;
  return 'an unknown principal kind';
}

/**
 * Decides, from {@link POLICY} alone, whether `subject` may call `method` (full gRPC path,
 * `/haven.scheduling.v1.SchedulingService/BookAppointment`). Deny by default: a method without an entry is
 * refused, and so is a non-public method without a subject. Public methods are allowed for everyone.
 * Ownership (whose appointment, whose visit) is the handler's business, not this function's. Throws nothing.
 */
export function authorize(method: string, subject: AuthorizationSubject | undefined): AuthorizationDecision {
  const policy = policyOf(method);
  if (!policy) return { allowed: false, reason: `${shortName(method)} has no access policy` };
  if (policy.public === true) return ALLOWED;
  if (!subject) return { allowed: false, reason: `${shortName(method)} needs an authenticated caller` };
  if (admits(policy, subject)) return ALLOWED;
  return { allowed: false, reason: `${describe(subject)} may not call ${shortName(method)}` };
}

/** Full paths of every method the table marks public (callable without a token), sorted. Throws nothing. */
export function publicMethods(): readonly string[] {
  return Object.keys(POLICY)
    .filter((m) => POLICY[m]?.public === true)
    .sort();
}

/** Every method path in the table, sorted. Throws nothing. */
export function policyMethods(): readonly string[] {
  return Object.keys(POLICY).sort();
}

/** Who may call a method, in words (`admin, front_desk; service accounts with scheduling.appointments.write`). */
export function describePolicy(policy: MethodPolicy): string {
  if (policy.public === true) return 'public (no token)';
  const parts: string[] = [];
  if (policy.roles && policy.roles.length > 0) parts.push(policy.roles.join(', '));
  if (policy.self === true) parts.push('any signed-in user (self)');
  for (const kind of policy.kinds ?? []) {
    if (kind === 'service_account') {
      parts.push(`service accounts with ${(policy.scopes ?? []).map((s) => `\`${s}\``).join(' or ')}`);
    } else {
      parts.push(kind);
    }
  }
  return parts.length > 0 ? parts.join('; ') : 'nobody';
}

/**
 * The table as GitHub markdown, one section per service, for docs/access-policy.md.
 * Regenerate the file with
 * `node -e "process.stdout.write(require('./packages/auth/dist').policyMarkdown())" > docs/access-policy.md`.
 * Throws nothing.
 */
export function policyMarkdown(): string {
  const byService = new Map<string, string[]>();
  for (const method of policyMethods()) {
    const service = /^\/([^/]+)\//.exec(method)?.[1] ?? 'unknown';
    const rows = byService.get(service) ?? [];
    const policy = POLICY[method] as MethodPolicy;
    const name = method.slice(method.lastIndexOf('/') + 1);
    rows.push(`| \`${name}\` | ${describePolicy(policy)} | ${policy.note} |`);
    byService.set(service, rows);
  }
  const lines = [
    '# Access policy',
    '',
    '<!-- Generated from packages/auth/src/policy.ts by policyMarkdown(); do not edit by hand. -->',
    '<!-- Regenerate: npx tsc -b packages/auth && node -e "process.stdout.write(require(\'./packages/auth/dist\').policyMarkdown())" > docs/access-policy.md -->',
    '',
    'Least privilege is one table in code (`packages/auth/src/policy.ts`). The gRPC harness checks it for every',
    'call before the handler runs and refuses with `PERMISSION_DENIED` (ErrorInfo reason `POLICY_DENIED`);',
    'a method without an entry is refused (deny by default). Callers without a valid token get `UNAUTHENTICATED`,',
    'except on public methods. Handlers still check ownership: a clinician reaches only their own appointments,',
    'visits and recordings, a patient only their own visit. `tests/e2e/authz-matrix.int.spec.ts` calls every RPC',
    'of every service as every role against the running services.',
    '',
    'Roles: `admin`, `clinician`, `front_desk`, `auditor` (staff users); `patient` principals come from a redeemed',
    'appointment link, `guest` principals from a redeemed one-time guest link (one visit); service accounts',
    '(hospital systems) hold scopes `<service>.<resource>.<read|write>`.',
  ];
  for (const [service, rows] of [...byService].sort(([a], [b]) => a.localeCompare(b))) {
    lines.push('', `## ${service}`, '', '| RPC | who may call | note |', '| --- | --- | --- |', ...rows);
  }
  return `${lines.join('\n')}\n`;
}
