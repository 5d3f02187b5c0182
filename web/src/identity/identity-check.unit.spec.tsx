/**
 * @jest-environment jsdom
 */
import { act, fireEvent, render, screen } from '@testing-library/react';
import { answerInOrder } from '../testing/fake-api';
import { IdentityCheck } from './identity-check';

describe('the identity check', () => {
  it('shows the date of birth only when asked, then records the confirmation and shows it', async () => {
    const calls = answerInOrder(
      { status: 200, body: { visit: { identity: null } } },
      { status: 200, body: { dateOfBirth: '1979-04-05', identity: null } },
      {
        status: 200,
        body: {
          identity: {
            confirmedBy: 'u-cara',
            confirmTime: '2026-11-26T10:03:00.000Z',
            method: 'date_of_birth',
          },
        },
      },
    );
    render(<IdentityCheck visitId="v1" />);
    await act(async () => undefined);
    expect(screen.queryByText('1979-04-05')).toBeNull();
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Show date of birth' })));
    expect(calls[1]).toEqual({ method: 'GET', path: '/api/visits/v1/identity-check' });
    expect(screen.getByText('1979-04-05')).toBeTruthy();
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Identity confirmed' })));
    expect(calls[2]).toEqual({ method: 'POST', path: '/api/visits/v1/identity', body: {} });
    expect(screen.getByRole('status').textContent).toMatch(
      /^Identity confirmed by a clinician at .+ \(date of birth\)\.$/,
    );
    // The date of birth is gone from the page once confirmed.
    expect(screen.queryByText('1979-04-05')).toBeNull();
  });

  it('shows an earlier confirmation at once, without reading the date of birth', async () => {
    const calls = answerInOrder({
      status: 200,
      body: { visit: { identity: { confirmedBy: 'u-dan', confirmTime: null, method: 'date_of_birth' } } },
    });
    render(<IdentityCheck visitId="v1" />);
    await act(async () => undefined);
    expect(screen.getByRole('status').textContent).toBe('Identity confirmed by a clinician (date of birth).');
    expect(calls).toHaveLength(1);
  });
});
