import { PEER_POLICY, authorizePeer } from './peers';
import { policyMethods } from './authorize';

const BOOK = '/haven.scheduling.v1.SchedulingService/BookAppointment';

describe('authorizePeer', () => {
  it('admits the gateway and hospital systems', () => {
    expect(authorizePeer(BOOK, 'gateway')).toEqual({ allowed: true });
    expect(authorizePeer(BOOK, 'integration')).toEqual({ allowed: true });
  });

  it('refuses another service, a certificate without a Haven name, and an unknown service', () => {
    expect(authorizePeer(BOOK, 'recording')).toEqual({
      allowed: false,
      reason: 'workload recording may not call haven.scheduling.v1.SchedulingService',
    });
    expect(authorizePeer(BOOK, undefined).allowed).toBe(false);
    expect(authorizePeer('/haven.billing.v1.BillingService/Pay', 'gateway').allowed).toBe(false);
  });

  it('has an entry for every service of the access policy', () => {
    const services = new Set(policyMethods().map((m) => /^\/([^/]+)\//.exec(m)?.[1]));
    expect([...services].sort()).toEqual(Object.keys(PEER_POLICY).sort());
  });
});
