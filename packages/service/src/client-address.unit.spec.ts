import { Metadata } from '@grpc/grpc-js';
import {
  CLIENT_ADDRESS_METADATA,
  clientAddressOf,
  FORWARDER_METADATA,
  forwardClientAddress,
  NO_FORWARDER_TRUST,
  peerIp,
  sharedSecretForwarderTrust,
} from './client-address';

const SECRET = 'f'.repeat(40);
const call = (metadata: Metadata, peer = 'ipv4:10.0.0.5:41234') => ({ metadata, peer });

describe('clientAddressOf', () => {
  it('believes the forwarded address only from a caller with the forwarder secret', () => {
    const trust = sharedSecretForwarderTrust(SECRET);
    const forwarded = forwardClientAddress(new Metadata(), {
      clientAddress: '203.0.113.7',
      forwarderSecret: SECRET,
    });
    expect(clientAddressOf(call(forwarded), trust)).toEqual({ address: '203.0.113.7', forwarded: true });
    const wrong = forwardClientAddress(new Metadata(), {
      clientAddress: '203.0.113.7',
      forwarderSecret: 'x'.repeat(40),
    });
    expect(clientAddressOf(call(wrong), trust)).toEqual({ address: '10.0.0.5', forwarded: false });
    const none = new Metadata();
    none.set(CLIENT_ADDRESS_METADATA, '203.0.113.7');
    expect(clientAddressOf(call(none), trust).address).toBe('10.0.0.5');
    expect(clientAddressOf(call(forwarded), NO_FORWARDER_TRUST).address).toBe('10.0.0.5');
  });

  it('takes only IP literals (IPv4-mapped IPv6 unwrapped), never arbitrary text', () => {
    const trust = sharedSecretForwarderTrust(SECRET);
    const with_ = (value: string) => {
      const m = new Metadata();
      m.set(CLIENT_ADDRESS_METADATA, value);
      m.set(FORWARDER_METADATA, SECRET);
      return clientAddressOf(call(m, 'ipv6:[::1]:5000'), trust).address;
    };
    expect(with_('::ffff:198.51.100.4')).toBe('198.51.100.4');
    expect(with_('2001:db8::1')).toBe('2001:db8::1');
    expect(with_('evil, 1.2.3.4')).toBe('::1');
    expect(with_('a'.repeat(100))).toBe('::1');
  });

  it('refuses a short secret and reads grpc-js peer strings', () => {
    expect(() => sharedSecretForwarderTrust('short')).toThrow(TypeError);
    expect(peerIp('ipv4:127.0.0.1:5000')).toBe('127.0.0.1');
    expect(peerIp('ipv6:[::1]:5000')).toBe('::1');
    expect(peerIp('unix:/tmp/s')).toBe('unix:/tmp/s');
  });
});
