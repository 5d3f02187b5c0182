/**
 * The address of the end client behind a call, for throttling. A service sees the address of its peer; behind the
 * gateway that is always the gateway's. The gateway therefore passes the browser's address on in metadata
 * ({@link CLIENT_ADDRESS_METADATA}), and a service believes it only from a caller its {@link ForwarderTrust} says
 * speaks for clients: today the holder of a shared forwarder secret ({@link FORWARDER_METADATA}); with mTLS
 * between services, a trust that checks the peer certificate's identity plugs in here instead.
 */
import { timingSafeEqual, createHash } from 'node:crypto';
import { isIP } from 'node:net';
import type * as grpc from '@grpc/grpc-js';

/** Metadata key: the end client's IP address, set by a forwarder (the gateway). */
export const CLIENT_ADDRESS_METADATA = 'x-haven-client-address';
/** Metadata key: the forwarder's credential (the shared forwarder secret). */
export const FORWARDER_METADATA = 'x-haven-forwarder';

/** What a {@link ForwarderTrust} may look at. */
export interface ForwardingCall {
  readonly metadata: grpc.Metadata;
  /** grpc-js peer string, `ipv4:10.0.0.5:41234`. */
  readonly peer: string;
}

/** Decides whether the caller may speak for an end client (pass its address on). */
export interface ForwarderTrust {
  trusts(call: ForwardingCall): boolean;
}

/** Trusts no caller: every call is throttled by its peer address. */
export const NO_FORWARDER_TRUST: ForwarderTrust = Object.freeze({ trusts: () => false });

const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

/**
 * Trusts a caller that presents `secret` in {@link FORWARDER_METADATA} (compared in constant time). Throws
 * TypeError when the secret is shorter than 32 characters.
 */
export function sharedSecretForwarderTrust(secret: string): ForwarderTrust {
  if (secret.length < 32) throw new TypeError('the forwarder secret must have at least 32 characters');
  const expected = digest(secret);
  return {
    trusts(call) {
      const presented = call.metadata.get(FORWARDER_METADATA)[0];
      return typeof presented === 'string' && timingSafeEqual(digest(presented), expected);
    },
  };
}

/** The IP of a grpc-js peer string (`ipv4:1.2.3.4:5678`, `ipv6:[::1]:5678`), or the whole string. */
export function peerIp(peer: string): string {
  const v6 = /^ipv6:\[([^\]]+)\]/.exec(peer);
  if (v6?.[1]) return v6[1];
  const v4 = /^ipv4:([^:]+):/.exec(peer);
  if (v4?.[1]) return v4[1];
  return peer;
}

/** The client address of a call and whether a trusted forwarder supplied it. */
export interface ClientAddress {
  readonly address: string;
  readonly forwarded: boolean;
}

/**
 * The end client's address: the one in {@link CLIENT_ADDRESS_METADATA} when `trust` trusts the caller and it is
 * an IP literal (an IPv4-mapped IPv6 address is unwrapped), otherwise the peer's IP. Throws nothing.
 */
export function clientAddressOf(call: ForwardingCall, trust: ForwarderTrust): ClientAddress {
  const claimed = call.metadata.get(CLIENT_ADDRESS_METADATA)[0];
  if (typeof claimed === 'string' && claimed.length <= 64) {
    const address = claimed.trim().replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, '$1');
    if (isIP(address) !== 0 && trust.trusts(call)) return { address, forwarded: true };
  }
  return { address: peerIp(call.peer), forwarded: false };
}

/**
 * Adds the client address and the forwarder secret to outgoing metadata (the gateway's side). Returns the same
 * metadata. Throws nothing.
 */
export function forwardClientAddress(
  metadata: grpc.Metadata,
  input: { readonly clientAddress: string; readonly forwarderSecret: string },
): grpc.Metadata {
  metadata.set(CLIENT_ADDRESS_METADATA, input.clientAddress);
  metadata.set(FORWARDER_METADATA, input.forwarderSecret);
  return metadata;
}
