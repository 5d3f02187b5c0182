import { inspect } from 'node:util';
import { InMemoryKms, InMemoryPatientKeyStore, testKms, testPatientKeyStore } from '@haven/crypto/testing';

testKms('InMemoryKms', () => new InMemoryKms());
testPatientKeyStore('InMemoryPatientKeyStore', () => new InMemoryPatientKeyStore());

describe('InMemoryKms', () => {
  it('prints no key material', () => {
    const kms = new InMemoryKms();
    expect(inspect(kms)).toMatch(/^InMemoryKms \{"kind":"InMemoryKms","currentKekId":"kek-/);
    expect(Object.keys(JSON.parse(JSON.stringify(kms)) as object).sort()).toEqual(['currentKekId', 'kind']);
  });
});
