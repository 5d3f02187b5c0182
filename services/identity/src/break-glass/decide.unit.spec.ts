import { ValidationError } from '@haven/errors';
import { BREAK_GLASS_MAX_MS } from './break-glass';
import { decideBreakGlass } from './decide';

const NOW = Date.parse('2026-03-01T10:00:00Z');

describe('break-glass', () => {
  const base = {
    grantId: 'g-1',
    alertId: 'a-1',
    userId: 'u-1',
    role: 'clinician',
    sessionId: 's-1',
    resource: 'patients/p-1',
    reason: 'Patient unconscious in the ER, no consent possible',
    durationMs: 0,
    now: NOW,
  };

  it('grants 60 minutes by default (and at most), with an alert that carries no reason text', () => {
    const [granted, alert] = decideBreakGlass(base);
    expect(granted.data.expiresAt).toBe(new Date(NOW + BREAK_GLASS_MAX_MS).toISOString());
    expect(granted.data.reason).toBe(base.reason);
    expect(alert.data).toMatchObject({ grantId: 'g-1', severity: 'high', reasonLength: base.reason.length });
    expect(JSON.stringify(alert)).not.toContain('unconscious');
    const [long] = decideBreakGlass({ ...base, durationMs: 5 * 3_600_000 });
    expect(long.data.expiresAt).toBe(new Date(NOW + BREAK_GLASS_MAX_MS).toISOString());
    const [short] = decideBreakGlass({ ...base, durationMs: 600_000 });
    expect(short.data.expiresAt).toBe(new Date(NOW + 600_000).toISOString());
  });

  it('needs a written reason of 20+ characters and a patient resource name', () => {
    expect(() => decideBreakGlass({ ...base, reason: '       emergency now       ' })).toThrow(
      ValidationError,
    );
    expect(() => decideBreakGlass({ ...base, resource: 'visits/v-1' })).toThrow(ValidationError);
  });
});
