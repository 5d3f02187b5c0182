import { Any } from './gen/google/protobuf/any';
import type { MessageFns } from './gen/google/protobuf/any';

/** The prefix of every `google.protobuf.Any` type URL Haven writes. */
export const TYPE_URL_PREFIX = 'type.googleapis.com/';

/** Fully-qualified names of the `google.rpc` error detail messages Haven uses. */
export const ERROR_DETAIL_TYPES = {
  BadRequest: 'google.rpc.BadRequest',
  ErrorInfo: 'google.rpc.ErrorInfo',
  PreconditionFailure: 'google.rpc.PreconditionFailure',
  RetryInfo: 'google.rpc.RetryInfo',
  ResourceInfo: 'google.rpc.ResourceInfo',
  RequestInfo: 'google.rpc.RequestInfo',
  LocalizedMessage: 'google.rpc.LocalizedMessage',
} as const;

/** The encode/decode half of a ts-proto message codec (e.g. `BadRequest`). */
export type MessageCodec<T> = Pick<MessageFns<T>, 'encode' | 'decode'>;

/**
 * Packs a message into a `google.protobuf.Any` (e.g. a `google.rpc.Status` detail).
 * Throws nothing beyond what the codec's `encode` throws on a malformed message.
 */
export function packAny<T>(options: { typeName: string; codec: MessageCodec<T>; message: T }): Any {
  return Any.fromPartial({
    typeUrl: `${TYPE_URL_PREFIX}${options.typeName}`,
    value: Buffer.from(options.codec.encode(options.message).finish()),
  });
}

/**
 * Unpacks an `Any` when its type URL names `typeName` (any host prefix), else returns undefined.
 * Throws an Error when the type matches but the bytes are not a valid encoding.
 */
export function unpackAny<T>(any: Any, options: { typeName: string; codec: MessageCodec<T> }): T | undefined {
  const slash = any.typeUrl.lastIndexOf('/');
  if (any.typeUrl.slice(slash + 1) !== options.typeName) return undefined;
  return options.codec.decode(any.value);
}
