/**
 * Who may do what on Haven's NATS: one user per service plus the operator. The same table configures the
 * nats-server of the dev stack and the tests ({@link renderNatsAuthorization}) and the chart
 * (`deploy/helm/haven/files/nats/permissions.json`, generated from {@link natsPermissionTable}; a test keeps
 * them equal), so what the tests prove is what runs in the cluster.
 *
 * Each service may publish only
 * - to its own context in the event store (`haven.es.<service>.>`) and its own access refusals
 *   (`haven.es.security.refusals_<service>.>`), plus the shared streams it records into by design
 *   (a break-glass grant's `breakglass.use-<grant>`, written by every service that honours the grant);
 * - to its own context on the bus (`haven.bus.<service>.>`) and its own checkpoint keys;
 * - identity alone to the revocation subject, scheduling alone to its outbox's accepted marks
 *   (`haven.accepted.scheduling.>`);
 * - to the read and consume parts of the JetStream API — never stream create, update, delete, purge, message
 *   delete, snapshot or restore, which are the operator's alone;
 * and subscribe only under its own reply-inbox prefix (`_INBOX_<service>.>`).
 * Nothing is anonymous: the server config has no `no_auth_user`.
 */
import { inboxPrefixOf } from './nats-connection';
import {
  ACCEPTED_MARKS_SUBJECT_PREFIX,
  BUS_SUBJECT_PREFIX,
  CHECKPOINT_BUCKET,
  EVENT_STORE_SUBJECT_PREFIX,
  REVOCATIONS_SUBJECT,
} from './nats-streams';

/** The NATS users of the Haven services (the user name is the service name and its context). */
export const HAVEN_SERVICE_USERS = [
  'identity',
  'scheduling',
  'session',
  'recording',
  'audit',
  'gateway',
] as const;
/** One of {@link HAVEN_SERVICE_USERS}. */
export type HavenServiceUser = (typeof HAVEN_SERVICE_USERS)[number];
/** The NATS user that creates and changes streams (no service holds it). */
export const OPERATOR_USER = 'operator';

/** A nats-server user's `permissions` block. */
export interface NatsPermissions {
  readonly publish: { readonly allow: readonly string[]; readonly deny: readonly string[] };
  readonly subscribe: { readonly allow: readonly string[]; readonly deny: readonly string[] };
}

/**
 * Event-store subjects of shared streams a service writes by design: `breakglass.use-<grantId>` holds every use
 * of one break-glass grant, whichever service honoured it — the services that hold patient data (records,
 * visits, recordings). Identity, audit and the gateway never honour a grant.
 */
const BREAK_GLASS_USES = `${EVENT_STORE_SUBJECT_PREFIX}.breakglass.use.*`;
const SHARED_EVENT_SUBJECTS: Readonly<Partial<Record<HavenServiceUser, readonly string[]>>> = {
  scheduling: [BREAK_GLASS_USES],
  session: [BREAK_GLASS_USES],
  recording: [BREAK_GLASS_USES],
};

/** The aggregate of a service's access-refusal streams in the `security` context: `refusals_<service>`. */
export function refusalsAggregateOf(service: string): string {
  return `refusals_${service}`;
}

/** The JetStream API a service may call: stream info and message reads, consumers, acks, flow control. */
const JETSTREAM_READ_API = [
  '$JS.API.INFO',
  '$JS.API.STREAM.INFO.*',
  '$JS.API.STREAM.NAMES',
  '$JS.API.STREAM.LIST',
  '$JS.API.STREAM.MSG.GET.*',
  '$JS.API.DIRECT.GET.>',
  '$JS.API.CONSUMER.CREATE.>',
  '$JS.API.CONSUMER.DURABLE.CREATE.>',
  '$JS.API.CONSUMER.INFO.>',
  '$JS.API.CONSUMER.DELETE.>',
  '$JS.API.CONSUMER.MSG.NEXT.>',
  '$JS.API.CONSUMER.NAMES.>',
  '$JS.API.CONSUMER.LIST.>',
  '$JS.ACK.>',
  '$JS.FC.>',
] as const;

/**
 * The JetStream API that changes or removes streams and their messages, and the server's own subjects: denied
 * to every service explicitly (a deny wins over any allow, so widening an allow later cannot reopen them).
 */
export const OPERATOR_ONLY_SUBJECTS = [
  '$JS.API.STREAM.CREATE.>',
  '$JS.API.STREAM.UPDATE.>',
  '$JS.API.STREAM.DELETE.>',
  '$JS.API.STREAM.PURGE.>',
  '$JS.API.STREAM.MSG.DELETE.>',
  '$JS.API.STREAM.SNAPSHOT.>',
  '$JS.API.STREAM.RESTORE.>',
  '$JS.API.STREAM.PEER.>',
  '$JS.API.STREAM.LEADER.>',
  '$JS.API.ACCOUNT.>',
  '$JS.API.META.>',
  '$JS.API.SERVER.>',
  '$SYS.>',
] as const;

/** The permissions of one service's NATS user (see the module comment). */
export function servicePermissions(service: HavenServiceUser): NatsPermissions {
  return {
    publish: {
      allow: [
        `${EVENT_STORE_SUBJECT_PREFIX}.${service}.>`,
        `${EVENT_STORE_SUBJECT_PREFIX}.security.${refusalsAggregateOf(service)}.>`,
        ...(SHARED_EVENT_SUBJECTS[service] ?? []),
        `${BUS_SUBJECT_PREFIX}.${service}.>`,
        `$KV.${CHECKPOINT_BUCKET}.${service}.>`,
        // The relay's checkpoint key predates the `<service>.` convention: `relay.<context>`.
        `$KV.${CHECKPOINT_BUCKET}.relay.${service}`,
        ...(service === 'identity' ? [REVOCATIONS_SUBJECT] : []),
        ...(service === 'scheduling' ? [`${ACCEPTED_MARKS_SUBJECT_PREFIX}.scheduling.>`] : []),
        ...JETSTREAM_READ_API,
      ],
      deny: [...OPERATOR_ONLY_SUBJECTS],
    },
    subscribe: { allow: [`${inboxPrefixOf(service)}.>`], deny: [] },
  };
}

/** Every service user's permissions, by user name (the content of the chart's `files/nats/permissions.json`). */
export function natsPermissionTable(): Record<HavenServiceUser, NatsPermissions> {
  return Object.fromEntries(HAVEN_SERVICE_USERS.map((u) => [u, servicePermissions(u)])) as Record<
    HavenServiceUser,
    NatsPermissions
  >;
}

/** The chart's `files/nats/permissions.json`: the table as formatted JSON with a trailing newline. */
export function natsPermissionsJson(): string {
  return `${JSON.stringify(natsPermissionTable(), null, 2)}\n`;
}

/** Passwords of the users in a rendered authorization block. */
export interface NatsUserPasswords {
  /** The operator's password. */
  readonly operator: string;
  /** Each service user's password; services left out get no user (cannot connect). */
  readonly services: Readonly<Partial<Record<HavenServiceUser, string>>>;
}

/**
 * The nats-server `authorization { users: [...] }` block for the given passwords: the operator without
 * restrictions, each service with {@link servicePermissions}. Passwords are written as given (plain text, or a
 * bcrypt hash starting with `$2`); keep the file private (0600). Throws nothing.
 */
export function renderNatsAuthorization(passwords: NatsUserPasswords): string {
  const q = (s: string): string => JSON.stringify(s);
  const list = (items: readonly string[]): string => `[${items.map(q).join(', ')}]`;
  const lines = [
    'authorization {',
    '  users: [',
    `    { user: ${q(OPERATOR_USER)}, password: ${q(passwords.operator)} }`,
  ];
  for (const user of HAVEN_SERVICE_USERS) {
    const password = passwords.services[user];
    if (password === undefined) continue;
    const p = servicePermissions(user);
    lines.push(
      `    {`,
      `      user: ${q(user)}, password: ${q(password)}`,
      `      permissions: {`,
      `        publish: { allow: ${list(p.publish.allow)}, deny: ${list(p.publish.deny)} }`,
      `        subscribe: { allow: ${list(p.subscribe.allow)} }`,
      `      }`,
      `    }`,
    );
  }
  lines.push('  ]', '}', '');
  return lines.join('\n');
}
