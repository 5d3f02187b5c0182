import { ConfigError } from './config';
import { mutualTlsOf, workloadOfCertificate } from './tls';

describe('workloadOfCertificate', () => {
  it('reads the workload from the spiffe URI SAN of the trust domain', () => {
    const san = 'URI:spiffe://haven.internal/gateway, DNS:localhost, IP Address:127.0.0.1';
    expect(workloadOfCertificate({ subjectaltname: san })).toBe('gateway');
    expect(workloadOfCertificate({ subjectaltname: san }, 'hospital.example')).toBeUndefined();
  });

  it('names nobody without a SAN, with two Haven names, or with a malformed name', () => {
    expect(workloadOfCertificate(undefined)).toBeUndefined();
    expect(workloadOfCertificate({ subjectaltname: 'DNS:gateway' })).toBeUndefined();
    expect(
      workloadOfCertificate({
        subjectaltname: 'URI:spiffe://haven.internal/gateway, URI:spiffe://haven.internal/identity',
      }),
    ).toBeUndefined();
    expect(workloadOfCertificate({ subjectaltname: 'URI:spiffe://haven.internal/a/b' })).toBeUndefined();
  });
});

describe('mutualTlsOf', () => {
  it('is off without files and refuses a partial set, naming what is missing', () => {
    expect(mutualTlsOf({})).toBeUndefined();
    expect(() => mutualTlsOf({ HAVEN_TLS_CERT_FILE: '/tls/tls.crt' })).toThrow(ConfigError);
    expect(() => mutualTlsOf({ HAVEN_TLS_CERT_FILE: '/tls/tls.crt' })).toThrow(/HAVEN_TLS_KEY_FILE/);
  });
});
