import type { FieldViolation } from '@haven/errors';
import { BadRequest, BadRequest_FieldViolation, ErrorInfo, RetryInfo, Status, type Any } from '@haven/proto';

/**
 * google.rpc.Status with the BadRequest, ErrorInfo and RetryInfo details Haven sends, through the generated
 * codecs of the googleapis protos (`@haven/proto`).
 */

/** The metadata key carrying a binary google.rpc.Status. */
export const STATUS_DETAILS_KEY = 'grpc-status-details-bin';
/** Any type URL of google.rpc.BadRequest. */
export const BAD_REQUEST_TYPE_URL = 'type.googleapis.com/google.rpc.BadRequest';
/** Any type URL of google.rpc.ErrorInfo. */
export const ERROR_INFO_TYPE_URL = 'type.googleapis.com/google.rpc.ErrorInfo';

/** Any type URL of google.rpc.RetryInfo. */
export const RETRY_INFO_TYPE_URL = 'type.googleapis.com/google.rpc.RetryInfo';

/** The decoded google.rpc.ErrorInfo. */
export interface ErrorInfoDetail {
  readonly reason: string;
  readonly domain: string;
  readonly metadata: Readonly<Record<string, string>>;
}

/** A decoded google.rpc.Status with the details Haven understands. */
export interface DecodedStatus {
  readonly code: number;
  readonly message: string;
  readonly fieldViolations: readonly FieldViolation[];
  readonly errorInfo?: ErrorInfoDetail;
  /** google.rpc.RetryInfo's retry_delay in ms, when the server sent one. */
  readonly retryDelayMs?: number;
  /** Type URLs of details this decoder does not know. */
  readonly otherDetails: readonly string[];
}

/** Input of {@link encodeStatus}. */
export interface StatusInput {
  readonly code: number;
  readonly message: string;
  readonly fieldViolations?: readonly FieldViolation[];
  readonly errorInfo?: {
    readonly reason: string;
    readonly domain: string;
    readonly metadata?: Readonly<Record<string, string>>;
  };
  /** Adds a google.rpc.RetryInfo with this retry delay (ms, rounded up to whole milliseconds). */
  readonly retryDelayMs?: number;
}

/** Encodes a google.rpc.Status with optional BadRequest, ErrorInfo and RetryInfo details. Throws nothing. */
export function encodeStatus(status: StatusInput): Uint8Array {
  const details: Any[] = [];
  const any = (typeUrl: string, value: Uint8Array) => details.push({ typeUrl, value: Buffer.from(value) });
  if (status.fieldViolations && status.fieldViolations.length > 0) {
    const fieldViolations = status.fieldViolations.map((v) => BadRequest_FieldViolation.fromPartial(v));
    any(BAD_REQUEST_TYPE_URL, BadRequest.encode({ fieldViolations }).finish());
  }
  if (status.errorInfo) {
    const { reason, domain, metadata = {} } = status.errorInfo;
    any(ERROR_INFO_TYPE_URL, ErrorInfo.encode({ reason, domain, metadata: { ...metadata } }).finish());
  }
  if (status.retryDelayMs !== undefined && Number.isFinite(status.retryDelayMs) && status.retryDelayMs >= 0) {
    const ms = Math.ceil(status.retryDelayMs);
    const retryDelay = { seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 };
    any(RETRY_INFO_TYPE_URL, RetryInfo.encode({ retryDelay }).finish());
  }
  return Status.encode({ code: status.code, message: status.message, details }).finish();
}

/** Decodes a google.rpc.Status. Throws an Error when the bytes are not a valid protobuf message. */
export function decodeStatus(bytes: Uint8Array): DecodedStatus {
  const status = Status.decode(bytes);
  const fieldViolations: FieldViolation[] = [];
  const otherDetails: string[] = [];
  let errorInfo: ErrorInfoDetail | undefined;
  let retryDelayMs: number | undefined;
  for (const { typeUrl, value } of status.details) {
    if (typeUrl === BAD_REQUEST_TYPE_URL) {
      for (const { field, description } of BadRequest.decode(value).fieldViolations) {
        fieldViolations.push({ field, description });
      }
    } else if (typeUrl === ERROR_INFO_TYPE_URL) {
      const { reason, domain, metadata } = ErrorInfo.decode(value);
      errorInfo = { reason, domain, metadata };
    } else if (typeUrl === RETRY_INFO_TYPE_URL) {
      const delay = RetryInfo.decode(value).retryDelay;
      retryDelayMs = delay ? Number(delay.seconds) * 1000 + Math.ceil(delay.nanos / 1_000_000) : 0;
    } else otherDetails.push(typeUrl);
  }
  return {
    code: status.code,
    message: status.message,
    fieldViolations,
    otherDetails,
    ...(errorInfo ? { errorInfo } : {}),
    ...(retryDelayMs !== undefined ? { retryDelayMs } : {}),
  };
}
