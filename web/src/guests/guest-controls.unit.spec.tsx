/**
 * @jest-environment jsdom
 */
import { act, fireEvent, render, screen } from '@testing-library/react';
import { answerInOrder } from '../testing/fake-api';
import { GuestControls } from './guest-controls';

const directory = { status: 200, body: { clinicians: [{ id: 'u-dan', displayName: 'Dr Dan Li' }] } };
const noGuests = { status: 200, body: { visit: { guests: [] } } };

describe('the guest and host controls', () => {
  it('invites a colleague as an interpreter and says they wait in the lobby', async () => {
    const calls = answerInOrder(directory, noGuests, { status: 200, body: { hosts: ['u-cara'] } });
    const changed = jest.fn();
    render(<GuestControls visitId="v1" participants={[]} onChanged={changed} />);
    await act(async () => undefined);
    fireEvent.change(screen.getByLabelText('Invite'), { target: { value: 'u-dan' } });
    fireEvent.change(screen.getByLabelText('As'), { target: { value: 'interpreter' } });
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Invite guest' })));
    expect(calls[2]).toEqual({
      method: 'POST',
      path: '/api/visits/v1/guests',
      body: { userId: 'u-dan', role: 'interpreter' },
    });
    expect(screen.getByRole('status').textContent).toContain('Dr Dan Li is invited');
    expect(changed).toHaveBeenCalledTimes(1);
  });

  it('offers share and hand over only for a clinician admitted who is not a host, and says a refusal', async () => {
    const calls = answerInOrder(directory, noGuests, {
      status: 403,
      body: { error: { code: 'PERMISSION_DENIED', message: 'Only a host may do that.' } },
    });
    render(
      <GuestControls
        visitId="v1"
        participants={[
          { id: 'p-cara', kind: 'clinician', state: 'admitted', host: true },
          { id: 'p-dan', kind: 'clinician', state: 'admitted', host: false },
          { id: 'p-eve', kind: 'clinician', state: 'lobby', host: false },
          { id: 'p-pat', kind: 'patient', state: 'admitted' },
        ]}
      />,
    );
    await act(async () => undefined);
    expect(screen.getAllByRole('button', { name: 'Hand over host' })).toHaveLength(1);
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Hand over host' })));
    expect(calls[2]).toEqual({
      method: 'POST',
      path: '/api/visits/v1/host',
      body: { participantId: 'p-dan', mode: 'handover' },
    });
    expect(screen.getByRole('status').textContent).toBe('Only a host may do that.');
  });

  it('creates a guest link for someone without an account: link and passcode shown once', async () => {
    const link = {
      guestId: 'g0123456789abcdef0123456789abcdef',
      role: 'family',
      url: 'https://clinic.example/join#g.token',
      passcode: '12345678',
    };
    const invited = {
      status: 200,
      body: { visit: { guests: [{ id: link.guestId, link: true, role: 'family' }] } },
    };
    const calls = answerInOrder(directory, noGuests, { status: 200, body: link }, invited);
    render(<GuestControls visitId="v1" participants={[]} />);
    await act(async () => undefined);
    fireEvent.change(screen.getByLabelText('Invite by link'), { target: { value: 'family' } });
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Create guest link' })));
    expect(calls[2]).toEqual({
      method: 'POST',
      path: '/api/visits/v1/guest-links',
      body: { role: 'family' },
    });
    expect(screen.getByLabelText<HTMLInputElement>('Link').value).toBe(link.url);
    expect(screen.getByLabelText<HTMLInputElement>('Passcode').value).toBe('12345678');
    expect(screen.getByRole('list', { name: 'Invited guests' }).textContent).toContain(
      'Family member (guest link)',
    );
  });

  it('revokes an invited guest and forgets the link it showed', async () => {
    const invited = {
      status: 200,
      body: {
        visit: { guests: [{ id: 'g0123456789abcdef0123456789abcdef', link: true, role: 'interpreter' }] },
      },
    };
    const calls = answerInOrder(directory, invited, { status: 200, body: { guests: [] } }, noGuests);
    render(<GuestControls visitId="v1" participants={[]} />);
    await act(async () => undefined);
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Revoke Interpreter 1' })));
    expect(calls[2]).toEqual({
      method: 'POST',
      path: '/api/visits/v1/guests/g0123456789abcdef0123456789abcdef/revoke',
      body: {},
    });
    expect(screen.getByRole('status').textContent).toContain('no longer invited');
    expect(screen.queryByRole('list', { name: 'Invited guests' })).toBeNull();
  });
});
