/**
 * @jest-environment jsdom
 */
import { render, screen } from '@testing-library/react';
import { setClinicTimeZone } from '../staff/time';
import { CLINIC_ZONE, expectOnClinicClock } from '../testing/clinic-clock';
import { flush, serveApi } from '../testing/fake-api';
import { MailCard } from './mail-card';

describe('the local mail card', () => {
  afterEach(() => setClinicTimeZone(undefined));

  it('is not shown when the gateway has no mail catcher', async () => {
    serveApi({});
    const { container } = render(<MailCard />);
    await flush();
    expect(container.innerHTML).toBe('');
  });

  it('lists what the catcher caught, newest first, as text, received on the clinic’s clock', async () => {
    setClinicTimeZone(CLINIC_ZONE);
    serveApi({
      'GET /api/dev/mail': {
        status: 200,
        body: {
          messages: [
            {
              id: '<1@demo>',
              to: 'patient@demo.test',
              subject: 'Your video visit with Demo Clinic',
              text: 'Join here: <script>alert(1)</script>',
              receivedAt: '2026-12-06T10:00:00.000Z',
            },
          ],
        },
      },
    });
    render(<MailCard />);
    await flush();
    const list = screen.getByRole('list', { name: 'Messages received' });
    expect(list.textContent).toContain('Your video visit with Demo Clinic');
    expect(list.textContent).toContain('Join here: <script>alert(1)</script>');
    expect(list.querySelector('script')).toBeNull();
    expectOnClinicClock(list.textContent ?? '', '2026-12-06T10:00:00.000Z');
  });
});
