import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import type { FieldViolation } from '@haven/errors';

/**
 * google.rpc.Status / BadRequest / ErrorInfo, encoded and decoded by hand (wire-compatible with the
 * googleapis protos) so this package does not depend on generated code.
 *   Status     { int32 code = 1; string message = 2; repeated google.protobuf.Any details = 3; }
 *   Any        { string type_url = 1; bytes value = 2; }
 *   BadRequest { repeated FieldViolation field_violations = 1; }  FieldViolation { string field = 1; string description = 2; }
 *   ErrorInfo  { string reason = 1; string domain = 2; map<string, string> metadata = 3; }
 *   RetryInfo  { google.protobuf.Duration retry_delay = 1; }  Duration { int64 seconds = 1; int32 nanos = 2; }
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
  const w = new BinaryWriter();
  if (status.code !== 0) w.tag(1, WireType.Varint).int32(status.code);
  if (status.message) w.tag(2, WireType.LengthDelimited).string(status.message);
  if (status.fieldViolations && status.fieldViolations.length > 0) {
    const br = new BinaryWriter();
    for (const v of status.fieldViolations) {
      br.tag(1, WireType.LengthDelimited).fork();
      br.tag(1, WireType.LengthDelimited).string(v.field);
      br.tag(2, WireType.LengthDelimited).string(v.description);
      br.join();
    }
    writeAny(w, BAD_REQUEST_TYPE_URL, br.finish());
  }
  if (status.errorInfo) {
    const ei = new BinaryWriter();
    ei.tag(1, WireType.LengthDelimited).string(status.errorInfo.reason);
    ei.tag(2, WireType.LengthDelimited).string(status.errorInfo.domain);
    for (const [k, v] of Object.entries(status.errorInfo.metadata ?? {})) {
      ei.tag(3, WireType.LengthDelimited).fork();
      ei.tag(1, WireType.LengthDelimited).string(k);
      ei.tag(2, WireType.LengthDelimited).string(v);
      ei.join();
    }
    writeAny(w, ERROR_INFO_TYPE_URL, ei.finish());
  }
  if (status.retryDelayMs !== undefined && Number.isFinite(status.retryDelayMs) && status.retryDelayMs >= 0) {
    const ms = Math.ceil(status.retryDelayMs);
    const duration = new BinaryWriter();
    const seconds = Math.floor(ms / 1000);
    const nanos = (ms % 1000) * 1_000_000;
    if (seconds !== 0) duration.tag(1, WireType.Varint).int64(seconds);
    if (nanos !== 0) duration.tag(2, WireType.Varint).int32(nanos);
    const ri = new BinaryWriter();
    ri.tag(1, WireType.LengthDelimited).bytes(duration.finish());
    writeAny(w, RETRY_INFO_TYPE_URL, ri.finish());
  }
  return w.finish();
}

function writeAny(w: BinaryWriter, typeUrl: string, value: Uint8Array): void {
  w.tag(3, WireType.LengthDelimited).fork();
  w.tag(1, WireType.LengthDelimited).string(typeUrl);
  w.tag(2, WireType.LengthDelimited).bytes(value);
  w.join();
}

/** Decodes a google.rpc.Status. Throws an Error when the bytes are not a valid protobuf message. */
export function decodeStatus(bytes: Uint8Array): DecodedStatus {
  const r = new BinaryReader(bytes);
  let code = 0;
  let message = '';
  const fieldViolations: FieldViolation[] = [];
  const otherDetails: string[] = [];
  let errorInfo: ErrorInfoDetail | undefined;
  let retryDelayMs: number | undefined;
  while (r.pos < r.len) {
    const [field, wt] = r.tag();
    if (field === 1 && wt === WireType.Varint) code = r.int32();
    else if (field === 2 && wt === WireType.LengthDelimited) message = r.string();
    else if (field === 3 && wt === WireType.LengthDelimited) {
      const any = decodeAny(r.bytes());
      if (any.typeUrl === BAD_REQUEST_TYPE_URL) fieldViolations.push(...decodeBadRequest(any.value));
      else if (any.typeUrl === ERROR_INFO_TYPE_URL) errorInfo = decodeErrorInfo(any.value);
      else if (any.typeUrl === RETRY_INFO_TYPE_URL) retryDelayMs = decodeRetryInfo(any.value);
      else otherDetails.push(any.typeUrl);
    } else r.skip(wt);
  }
  return {
    code,
    message,
    fieldViolations,
    otherDetails,
    ...(errorInfo ? { errorInfo } : {}),
    ...(retryDelayMs !== undefined ? { retryDelayMs } : {}),
  };
}

function decodeAny(bytes: Uint8Array): { typeUrl: string; value: Uint8Array } {
  const r = new BinaryReader(bytes);
  let typeUrl = '';
  let value: Uint8Array = new Uint8Array(0);
  while (r.pos < r.len) {
    const [field, wt] = r.tag();
    if (field === 1 && wt === WireType.LengthDelimited) typeUrl = r.string();
    else if (field === 2 && wt === WireType.LengthDelimited) value = r.bytes();
    else r.skip(wt);
  }
  return { typeUrl, value };
}

/** A message of two strings in fields 1 and 2 (a BadRequest.FieldViolation, a map<string, string> entry). */
function stringPair(bytes: Uint8Array): [string, string] {
  const r = new BinaryReader(bytes);
  let first = '';
  let second = '';
  while (r.pos < r.len) {
    const [field, wt] = r.tag();
    if (field === 1 && wt === WireType.LengthDelimited) first = r.string();
    else if (field === 2 && wt === WireType.LengthDelimited) second = r.string();
    else r.skip(wt);
  }
  return [first, second];
}

function decodeBadRequest(bytes: Uint8Array): FieldViolation[] {
  const r = new BinaryReader(bytes);
  const out: FieldViolation[] = [];
  while (r.pos < r.len) {
    const [field, wt] = r.tag();
    if (field === 1 && wt === WireType.LengthDelimited) {
      const [f, description] = stringPair(r.bytes());
      out.push({ field: f, description });
    } else r.skip(wt);
  }
  return out;
}

function decodeErrorInfo(bytes: Uint8Array): ErrorInfoDetail {
  const r = new BinaryReader(bytes);
  let reason = '';
  let domain = '';
  const metadata: Record<string, string> = {};
  while (r.pos < r.len) {
    const [field, wt] = r.tag();
    if (field === 1 && wt === WireType.LengthDelimited) reason = r.string();
    else if (field === 2 && wt === WireType.LengthDelimited) domain = r.string();
    else if (field === 3 && wt === WireType.LengthDelimited) {
      const [key, value] = stringPair(r.bytes());
      metadata[key] = value;
    } else r.skip(wt);
  }
  return { reason, domain, metadata };
}

/** RetryInfo → its retry_delay in ms (0 when absent). */
function decodeRetryInfo(bytes: Uint8Array): number {
  const r = new BinaryReader(bytes);
  let ms = 0;
  while (r.pos < r.len) {
    const [field, wt] = r.tag();
    if (field === 1 && wt === WireType.LengthDelimited) {
      const dr = new BinaryReader(r.bytes());
      let seconds = 0;
      let nanos = 0;
      while (dr.pos < dr.len) {
        const [df, dwt] = dr.tag();
        if (df === 1 && dwt === WireType.Varint) seconds = Number(dr.int64());
        else if (df === 2 && dwt === WireType.Varint) nanos = dr.int32();
        else dr.skip(dwt);
      }
      ms = seconds * 1000 + Math.ceil(nanos / 1_000_000);
    } else r.skip(wt);
  }
  return ms;
}
