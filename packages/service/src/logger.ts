import pino from 'pino';
import type { Logger as PinoLogger, DestinationStream } from 'pino';
import { HavenError } from '@haven/errors';

/** The logger every Haven component receives by injection (pino). */
export type Logger = PinoLogger;

/** Field names that may hold PHI or secrets; redacted at the top level and up to two levels deep. */
export const REDACTED_FIELDS = [
  'name',
  'firstName',
  'lastName',
  'fullName',
  'displayName',
  'dateOfBirth',
  'dob',
  'email',
  'phone',
  'phoneNumber',
  'address',
  // a visit's reason; log a code (why a message or a recording failed) as `reasonCode`
  'reason',
  'diagnosis',
  'notes',
  'passcode',
  'password',
  'token',
  'accessToken',
  'refreshToken',
  'secret',
  'authorization',
  'cookie',
  'phi',
  'ssn',
  'mrn',
] as const;

/** The pino redact paths built from {@link REDACTED_FIELDS}: `x`, `*.x`, `*.*.x`, plus header paths. */
export const REDACT_PATHS: readonly string[] = [
  ...REDACTED_FIELDS.flatMap((f) => [f, `*.${f}`, `*.*.${f}`]),
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'headers.cookie',
  'metadata.authorization',
];

const OMITTED = '[omitted]';

/**
 * Serialises an error without PHI: our own errors ({@link HavenError}) keep their message (written by us,
 * PHI-free by policy); any other error keeps only its type, code and stack frames, because a vendor
 * message may quote data.
 */
export function serializeError(err: unknown): Record<string, unknown> {
  if (!(err instanceof Error)) return { type: typeof err };
  const frames = (err.stack ?? '')
    .split('\n')
    .filter((line) => /^\s+at /.test(line))
    .slice(0, 15)
    .join('\n');
  const out: Record<string, unknown> = { type: err.name || err.constructor.name, stack: frames };
  if (err instanceof HavenError) {
    out['message'] = err.message;
    out['category'] = err.category;
  }
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' || typeof code === 'number') out['code'] = code;
  if (err.cause !== undefined) out['cause'] = serializeError(err.cause);
  return out;
}

/** Options of {@link createLogger}. */
export interface CreateLoggerOptions {
  /** The service or component name, bound as `service` on every line. */
  readonly service: string;
  /** Default `info`. */
  readonly level?: string;
  /** Where lines go; default stdout. Tests pass a stream to capture output. */
  readonly destination?: DestinationStream;
}

/**
 * Creates the pino logger with PHI/secret redaction ({@link REDACT_PATHS}, censored as `[REDACTED]`) and
 * serializers that never dump request or response bodies (`body`, `request`, `response`, `payload`,
 * `metadata` become `[omitted]`; `req` keeps method and path only; errors go through {@link serializeError}).
 * Throws when `level` is not a pino level.
 */
export function createLogger(options: CreateLoggerOptions): Logger {
  const pinoOptions: pino.LoggerOptions = {
    level: options.level ?? 'info',
    base: { service: options.service },
    redact: { paths: [...REDACT_PATHS], censor: '[REDACTED]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    serializers: {
      err: serializeError,
      error: serializeError,
      body: () => OMITTED,
      request: () => OMITTED,
      response: () => OMITTED,
      payload: () => OMITTED,
      metadata: () => OMITTED,
      req: (req: { method?: unknown; url?: unknown; path?: unknown }) => ({
        method: req?.method,
        path:
          typeof req?.path === 'string'
            ? req.path
            : typeof req?.url === 'string'
              ? req.url.split('?')[0]
              : undefined,
      }),
      res: (res: { statusCode?: unknown }) => ({ statusCode: res?.statusCode }),
    },
  };
  return options.destination ? pino(pinoOptions, options.destination) : pino(pinoOptions);
}
