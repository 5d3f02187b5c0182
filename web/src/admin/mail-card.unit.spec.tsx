/**
 * @jest-environment jsdom
 */
import { render, screen } from '@testing-library/react';
import { flush, serveApi } from '../testing/fake-api';
import { MailCard } from './mail-card';

describe('the local mail card', () => {
  it('is not shown when the gateway has no mail catcher', async () => {
    serveApi({});
    const { container } = render(<MailCard />);
    await flush();
    expect(container.innerHTML).toBe('');
  });

  it('lists what the catcher caught, newest first, as text', async () => {
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
  });
});
