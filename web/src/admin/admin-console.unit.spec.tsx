/**
 * @jest-environment jsdom
 */
import { act, fireEvent, render, screen, within } from '@testing-library/react';
import { SessionContext } from '../staff/session';
import { StaffApp } from '../staff/staff-app';
import { setClinicTimeZone } from '../staff/time';
import { CLINIC_ZONE, expectOnClinicClock } from '../testing/clinic-clock';
import { flush, invalidArgument, serveApi } from '../testing/fake-api';
import { UsageCard } from './usage-card';
import { UsersCard } from './users-card';

const USERS = [
  {
    id: 'ada',
    username: 'ada@clinic.test',
    displayName: 'Ada Admin',
    email: 'ada@clinic.test',
    role: 'admin',
    state: 'active',
    mfaEnrolled: true,
    createTime: null,
    lastLoginTime: null,
  },
  {
    id: 'dee',
    username: 'dee@clinic.test',
    displayName: 'Dr Dee Park',
    email: 'dee@clinic.test',
    role: 'clinician',
    state: 'disabled',
    mfaEnrolled: false,
    createTime: null,
    lastLoginTime: null,
  },
];
const INVALID = invalidArgument;

describe('the staff users card', () => {
  afterEach(() => setClinicTimeZone(undefined));

  it('lists each user with role and state and offers the actions that apply', async () => {
    serveApi({ 'GET /api/users': { status: 200, body: { users: USERS } } });
    render(<UsersCard />);
    await flush();
    const list = screen.getByRole('list', { name: 'Staff users' });
    expect(
      within(list)
        .getAllByRole('listitem')
        .map((li) => li.textContent),
    ).toEqual([expect.stringContaining('Ada Admin'), expect.stringContaining('Dr Dee Park')]);
    expect(screen.getByRole('button', { name: 'Disable Ada Admin' })).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Reset the second factor of Ada Admin' })).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Enable Dr Dee Park' })).toBeTruthy();
    expect(screen.queryByRole('button', { name: 'Disable Dr Dee Park' })).toBeNull();
    expect(screen.queryByRole('button', { name: 'Reset the second factor of Dr Dee Park' })).toBeNull();
  });

  it('offers the signed-in admin no Disable on their own row (identity refuses it) and marks it as theirs', async () => {
    serveApi({ 'GET /api/users': { status: 200, body: { users: USERS } } });
    render(
      <SessionContext.Provider value={{ me: { role: 'admin', sub: 'ada' }, signedOut: () => undefined }}>
        <UsersCard />
      </SessionContext.Provider>,
    );
    await flush();
    const ada = within(screen.getByRole('list', { name: 'Staff users' })).getAllByRole('listitem')[0]!;
    expect(ada.textContent).toContain('you');
    expect(screen.queryByRole('button', { name: 'Disable Ada Admin' })).toBeNull();
    expect(screen.getByRole('button', { name: 'Reset the second factor of Ada Admin' })).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Enable Dr Dee Park' })).toBeTruthy();
  });

  it('says the list could not be read instead of loading for ever', async () => {
    serveApi({
      'GET /api/users': { status: 503, body: { error: { code: 'UNAVAILABLE', message: 'down' } } },
    });
    render(<UsersCard />);
    await flush();
    expect(screen.getByRole('alert')).toBeTruthy();
    expect(screen.queryByText('Loading…')).toBeNull();
  });

  it('invites with a role, shows the activation link once and until when (clinic’s clock), a refused field by it', async () => {
    setClinicTimeZone(CLINIC_ZONE);
    let n = 0;
    const calls = serveApi({
      'GET /api/users': { status: 200, body: { users: USERS } },
      'POST /api/users': () =>
        ++n === 1
          ? INVALID('email', 'must be an e-mail address')
          : {
              status: 201,
              body: {
                user: { ...USERS[1], id: 'nia', displayName: 'Nia Nurse', state: 'invited' },
                invitationToken: 'tok.en',
                invitationExpireTime: '2026-12-09T10:00:00.000Z',
                activationPath: '/#invitation=tok.en',
              },
            },
    });
    render(<UsersCard />);
    await flush();
    fireEvent.change(screen.getByLabelText('E-mail'), { target: { value: 'nia' } });
    fireEvent.change(screen.getByLabelText('Full name'), { target: { value: 'Nia Nurse' } });
    fireEvent.change(screen.getByLabelText('Role'), { target: { value: 'front_desk' } });
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Invite' })));
    await flush();
    expect(document.getElementById('invite-email-error')?.textContent).toBe(
      'E-mail must be an e-mail address.',
    );
    expect(document.activeElement).toBe(screen.getByLabelText('E-mail'));
    expect(screen.queryByLabelText('Activation link')).toBeNull();

    fireEvent.change(screen.getByLabelText('E-mail'), { target: { value: 'nia@clinic.test' } });
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Invite' })));
    await flush();
    expect(calls.filter((c) => c.route === 'POST /api/users').at(-1)?.body).toEqual({
      email: 'nia@clinic.test',
      displayName: 'Nia Nurse',
      role: 'front_desk',
    });
    expect(screen.getByLabelText<HTMLInputElement>('Activation link').value).toBe(
      `${window.location.origin}/#invitation=tok.en`,
    );
    expect(screen.getByText(/shown only once/).textContent).toContain('Nia Nurse can set a password');
    expectOnClinicClock(screen.getByText(/shown only once/).textContent ?? '', '2026-12-09T10:00:00.000Z');
    expect(calls.filter((c) => c.route === 'GET /api/users')).toHaveLength(2); // the list is read again
  });

  it('disables after a confirmation and says so; a refusal is shown as an alert', async () => {
    const calls = serveApi({
      'GET /api/users': { status: 200, body: { users: USERS } },
      'POST /api/users/ada/disable': {
        status: 409,
        body: {
          error: { code: 'FAILED_PRECONDITION', message: 'The last active admin cannot be deactivated.' },
        },
      },
      'POST /api/users/ada/reset-mfa': { status: 200, body: { user: USERS[0] } },
    });
    const confirm = jest.spyOn(window, 'confirm').mockReturnValueOnce(false).mockReturnValueOnce(true);
    render(<UsersCard />);
    await flush();
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Disable Ada Admin' })));
    expect(calls.some((c) => c.route === 'POST /api/users/ada/disable')).toBe(false);
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Disable Ada Admin' })));
    await flush();
    expect(confirm).toHaveBeenCalledTimes(2);
    expect(screen.getByRole('alert').textContent).toBe('The last active admin cannot be deactivated.');
    await act(async () =>
      fireEvent.click(screen.getByRole('button', { name: 'Reset the second factor of Ada Admin' })),
    );
    await flush();
    expect(screen.getByRole('status').textContent).toBe(
      'Ada Admin sets up a new second factor at the next sign-in.',
    );
  });
});

describe('the usage card', () => {
  it('shows the counts per clinician by name and the total, for the range asked', async () => {
    const report = {
      total: { appointments: 5, completed: 3, noShows: 1, cancelled: 1, completedMinutes: 90 },
      clinicians: [
        { clinicianId: 'dee', appointments: 5, completed: 3, noShows: 1, cancelled: 1, completedMinutes: 90 },
      ],
    };
    const calls = serveApi({
      'GET /api/clinicians': {
        status: 200,
        body: { clinicians: [{ id: 'dee', displayName: 'Dr Dee Park' }] },
      },
      'GET /api/usage?from=2026-03-01&to=2026-03-31&timeZone=Europe%2FBerlin': { status: 200, body: report },
      'GET /api/usage?*': INVALID('to', 'must not be before start_day'),
    });
    render(<UsageCard timeZone="Europe/Berlin" />);
    await flush();
    expect(screen.getByRole('alert').textContent).not.toBe('');
    fireEvent.change(screen.getByLabelText('From'), { target: { value: '2026-03-01' } });
    fireEvent.change(screen.getByLabelText('To'), { target: { value: '2026-03-31' } });
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Show usage' })));
    await flush();
    expect(calls.at(-1)?.route).toBe('GET /api/usage?from=2026-03-01&to=2026-03-31&timeZone=Europe%2FBerlin');
    const rows = screen.getAllByRole('row').map((r) => r.textContent);
    expect(rows).toEqual([
      'ClinicianAppointmentsVisits heldMinutes bookedNo-showsCancelled',
      'Dr Dee Park53901' + '1',
      'All clinicians53901' + '1',
    ]);
    expect(screen.queryByRole('alert')).toBeNull();
  });

  it('names a refused field in the form’s words', async () => {
    serveApi({
      'GET /api/clinicians': { status: 200, body: { clinicians: [] } },
      'GET /api/usage?*': INVALID('to', 'must not be before start_day'),
    });
    render(<UsageCard timeZone="UTC" />);
    await flush();
    expect(screen.getByRole('alert').textContent).toBe('To must not be before start_day.');
  });
});

describe('an invitation link', () => {
  afterEach(() => history.replaceState(null, '', '/'));

  it('asks for a password, takes the token out of the address, then shows the sign-in with a notice', async () => {
    history.replaceState(null, '', '/#invitation=tok.en');
    const calls = serveApi({
      'GET /api/me': { status: 401, body: {} },
      'POST /api/auth/activate': { status: 200, body: { username: 'nia@clinic.test' } },
    });
    render(<StaffApp />);
    await flush();
    expect(screen.getByRole('heading', { name: 'Choose your password' })).toBeTruthy();
    expect(window.location.hash).toBe('');
    expect(document.activeElement).toBe(screen.getByLabelText('Password'));
    fireEvent.change(screen.getByLabelText('Password'), { target: { value: 'Lantern-Harbor-4821!' } });
    fireEvent.change(screen.getByLabelText('Password again'), { target: { value: 'Lantern-Harbor-4822!' } });
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Set password' })));
    await flush();
    expect(document.getElementById('confirm-error')?.textContent).toBe('Password again is not the same.');
    expect(calls.some((c) => c.route === 'POST /api/auth/activate')).toBe(false);

    fireEvent.change(screen.getByLabelText('Password again'), { target: { value: 'Lantern-Harbor-4821!' } });
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Set password' })));
    await flush();
    expect(calls.find((c) => c.route === 'POST /api/auth/activate')?.body).toEqual({
      invitationToken: 'tok.en',
      password: 'Lantern-Harbor-4821!',
    });
    expect(screen.getByRole('heading', { name: 'Sign in' })).toBeTruthy();
    expect(screen.getByRole('status').textContent).toBe(
      'Your account is ready. Sign in as nia@clinic.test with your new password.',
    );
  });

  it('says when the invitation is no longer valid', async () => {
    history.replaceState(null, '', '/#invitation=old');
    serveApi({
      'POST /api/auth/activate': {
        status: 401,
        body: {
          error: {
            code: 'UNAUTHENTICATED',
            message: 'This invitation link is not valid any more. Ask for a new one.',
          },
        },
      },
    });
    render(<StaffApp />);
    await flush();
    fireEvent.change(screen.getByLabelText('Password'), { target: { value: 'Lantern-Harbor-4821!' } });
    fireEvent.change(screen.getByLabelText('Password again'), { target: { value: 'Lantern-Harbor-4821!' } });
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Set password' })));
    await flush();
    expect(screen.getByRole('alert').textContent).toBe(
      'This invitation link is not valid any more. Ask for a new one.',
    );
    expect(screen.getByRole<HTMLButtonElement>('button', { name: 'Set password' }).disabled).toBe(true);
  });
});
