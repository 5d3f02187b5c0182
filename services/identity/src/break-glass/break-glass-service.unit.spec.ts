import { RequestIdReusedError } from '@haven/service';
import { ADMIN as admin, requestKeyOf as keyOf, testDeps, type TestDeps } from '../testing/deps';
import { BreakGlassService } from './break-glass-service';

let t: TestDeps;
let service: BreakGlassService;
beforeEach(async () => {
  t = await testDeps({ now: () => Date.parse('2026-01-05T09:00:00Z') });
  service = new BreakGlassService(t.deps);
});
afterEach(() => t.close());

describe('break-glass with idempotency keys', () => {
  const breakGlass = (
    reason: string,
    requestKey = keyOf('/haven.identity.v1.IdentityService/RequestBreakGlass'),
  ) =>
    service.requestBreakGlass(admin, {
      userId: 'u-1',
      role: 'clinician',
      sessionId: 's-1',
      patient: 'patients/p-1',
      reason,
      durationMs: 0,
      requestKey,
    });
  const REASON = 'patient unconscious in the emergency department';
  const grantEvents = async () => {
    const all: string[] = [];
    await new Promise<void>((resolve) => {
      void t.store
        .subscribe({
          from: 'start',
          handler: async (e) => {
            all.push(e.type.replace('haven.identity.v1.', ''));
          },
        })
        .then(async (s) => {
          await new Promise((r) => setTimeout(r, 20));
          await s.close();
          resolve();
        });
    });
    return all.filter((type) => type.startsWith('BreakGlass'));
  };

  it('answers a retried break-glass with the same grant, and raises one alert', async () => {
    const first = await breakGlass(REASON);
    const retry = await breakGlass(REASON);
    expect(retry.grantId).toBe(first.grantId);
    expect(retry.expiresAt).toBe(first.expiresAt);
    expect(await grantEvents()).toEqual(['BreakGlassGranted', 'BreakGlassAlertRaised']);
  });

  it('refuses the same key for another break-glass request', async () => {
    await breakGlass(REASON);
    await expect(breakGlass(`${REASON}, and more`)).rejects.toBeInstanceOf(RequestIdReusedError);
    expect(await grantEvents()).toEqual(['BreakGlassGranted', 'BreakGlassAlertRaised']);
  });

  it('raises the alert on retry when the first attempt stopped after the grant', async () => {
    const append = t.store.append.bind(t.store);
    const spy = jest.spyOn(t.store, 'append').mockImplementation(async (stream, expected, events) => {
      if (stream.startsWith('identity.alert-')) throw new Error('the process died here');
      return append(stream, expected, events);
    });
    await expect(breakGlass(REASON)).rejects.toThrow('the process died here');
    spy.mockRestore();
    await breakGlass(REASON);
    expect(await grantEvents()).toEqual(['BreakGlassGranted', 'BreakGlassAlertRaised']);
  });
});
