/**
 * @jest-environment jsdom
 */
import { render, screen } from '@testing-library/react';
import { CLINIC_ZONE, expectOnClinicClock } from '../testing/clinic-clock';
import { flush, serveApi } from '../testing/fake-api';
import { Passkeys } from './passkeys';
import { setClinicTimeZone } from './time';

describe('the passkeys card', () => {
  afterEach(() => setClinicTimeZone(undefined));

  it('says when a passkey was added and last used on the clinic’s clock, without seconds', async () => {
    setClinicTimeZone(CLINIC_ZONE);
    const createdAt = '2026-11-30T20:00:00.000Z';
    const lastUsedAt = '2026-12-06T10:00:00.000Z';
    serveApi({
      'GET /api/me/passkeys': {
        status: 200,
        body: {
          passkeys: [{ id: 'k1', name: 'Work laptop', aaguid: '', backedUp: false, createdAt, lastUsedAt }],
        },
      },
    });
    render(<Passkeys />);
    await flush();
    const text = screen.getByText(/^Work laptop/).textContent ?? '';
    const added = new Date(createdAt).toLocaleDateString([], { dateStyle: 'medium', timeZone: CLINIC_ZONE });
    expect(text).toContain(`added ${added}, `); // Dec 1 in the clinic, Nov 30 on a machine west of it
    expectOnClinicClock(text, lastUsedAt);
  });
});
