/**
 * @jest-environment jsdom
 */
import { act, fireEvent, render, screen } from '@testing-library/react';
import { participantLabel, waitedFor } from './console';
import { StaffApp } from './staff-app';
import { flush, invalidArgument, serveApi, type Answer } from '../testing/fake-api';

const serve = serveApi;

describe('the staff app', () => {
  it('shows the sign-in form when there is no session, with the username focused', async () => {
    serve({ 'GET /api/me': { status: 401, body: {} } });
    render(<StaffApp />);
    await flush();
    expect(screen.getByRole('heading', { name: 'Sign in' })).toBeTruthy();
    expect(document.activeElement).toBe(screen.getByLabelText('Username'));
    expect(screen.queryByRole('button', { name: 'Sign out' })).toBeNull();
  });

  it('puts a refused field next to its field and empties the password', async () => {
    const calls = serve({
      'GET /api/me': { status: 401, body: {} },
      'POST /api/auth/login': invalidArgument('username', 'must not be empty'),
    });
    render(<StaffApp />);
    await flush();
    fireEvent.change(screen.getByLabelText('Password'), { target: { value: 'secret' } });
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Sign in' })));
    await flush();
    expect(calls.find((c) => c.route === 'POST /api/auth/login')?.body).toEqual({
      username: '',
      password: 'secret',
      totp: '',
    });
    expect(document.getElementById('username-error')?.textContent).toBe('Username must not be empty.');
    expect(screen.getByLabelText('Username').getAttribute('aria-invalid')).toBe('true');
    expect(screen.getByRole('alert').textContent).toBe('Please correct the highlighted fields.');
    expect(screen.getByLabelText<HTMLInputElement>('Password').value).toBe('');
    expect(document.activeElement).toBe(screen.getByLabelText('Username'));
  });

  it('shows an auditor the ledger and no front desk or console', async () => {
    serve({
      'GET /api/me': { status: 200, body: { role: 'auditor' } },
      'GET /api/me/passkeys': { status: 200, body: { passkeys: [] } },
      'GET /api/audit/head': {
        status: 200,
        body: { treeSize: 3, rootHash: 'ab'.repeat(32), signedAt: null, algorithm: 'Ed25519', keyId: 'k1' },
      },
      'GET /api/audit/events': {
        status: 200,
        body: {
          events: [
            { id: 'e2', leafIndex: 2, occurredAt: null, type: 'x.v1.B', actor: 'u', patientId: 'p' },
            { id: 'e1', leafIndex: 1, occurredAt: null, type: 'x.v1.A', actor: 'u', patientId: '' },
          ],
          nextPageToken: '',
        },
      },
    });
    render(<StaffApp />);
    await flush();
    await flush();
    expect(screen.getByText('You are signed in as auditor.')).toBeTruthy();
    expect(screen.getByRole('heading', { name: 'Audit ledger' })).toBeTruthy();
    expect(screen.getAllByRole('link', { name: /inclusion proof/ })).toHaveLength(2);
    expect(screen.queryByRole('heading', { name: 'Book an appointment' })).toBeNull();
    expect(screen.queryByRole('heading', { name: "Today's visits" })).toBeNull();
  });
});

/** A front-desk session: one clinician (c1), one patient (p1), `appointments` listed; `extra` routes over. */
const frontDesk = (appointments: readonly unknown[], extra: Record<string, Answer>) =>
  serve({
    'GET /api/me': { status: 200, body: { role: 'front_desk' } },
    'GET /api/me/passkeys': { status: 200, body: { passkeys: [] } },
    'GET /api/clinicians': { status: 200, body: { clinicians: [{ id: 'c1', displayName: 'Dr Ada' }] } },
    'GET /api/patients?purpose=treatment': {
      status: 200,
      body: { patients: [{ id: 'p1', name: 'Maria Lopez', dateOfBirth: '1975-09-30' }] },
    },
    'GET /api/appointments?*': { status: 200, body: { appointments } },
    ...extra,
  });

describe('the front desk', () => {
  const started = new Date(Date.now() - 5 * 60_000);
  started.setSeconds(0, 0);
  const appointment = {
    id: 'a1',
    clinicianId: 'c1',
    patientId: 'p1',
    startTime: started.toISOString(),
    endTime: new Date(started.getTime() + 30 * 60_000).toISOString(),
    state: 'scheduled',
    visitId: null,
  };
  const desk = (extra: Record<string, Answer> = {}) => frontDesk([appointment], extra);

  it('moves an appointment in place, keeping its length', async () => {
    const calls = desk({ 'POST /api/appointments/a1/reschedule': { status: 200, body: { appointment } } });
    render(<StaffApp />);
    await flush();
    await flush();
    fireEvent.click(screen.getByRole('button', { name: /^Reschedule appointment/ }));
    const later = new Date(started.getTime() + 2 * 3_600_000);
    const local = (d: Date) =>
      `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}T` +
      `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
    fireEvent.change(screen.getByLabelText('Move to'), { target: { value: local(later) } });
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Move' })));
    await flush();
    expect(calls.find((c) => c.route === 'POST /api/appointments/a1/reschedule')?.body).toEqual({
      startTime: later.toISOString(),
      endTime: new Date(later.getTime() + 30 * 60_000).toISOString(),
    });
    expect(screen.queryByLabelText('Move to')).toBeNull();
  });

  it("counts the desk's input for identity's idle clock: a key refreshes the session, once per period", async () => {
    const calls = desk({ 'POST /api/auth/refresh': { status: 204, body: null } });
    render(<StaffApp />);
    await flush();
    await flush();
    const refreshes = () => calls.filter((c) => c.route === 'POST /api/auth/refresh').length;
    expect(refreshes()).toBe(0);
    await act(async () => fireEvent.keyDown(window, { key: 'Shift' }));
    await flush();
    expect(refreshes()).toBe(1);
    // Not at every key: a third of the idle timeout (here the default's, 60 s) must pass first.
    await act(async () => fireEvent.pointerDown(window));
    await flush();
    expect(refreshes()).toBe(1);
  });

  it('shows who is waiting per appointment, read again every 10 s', async () => {
    const states: Record<string, unknown> = { appointmentId: 'a1', status: 'open', waiting: 1, inVisit: 0 };
    const ticks: Array<() => void> = [];
    const fake = (fn: () => void, ms?: number): ReturnType<typeof setInterval> => {
      if (ms === 10_000) ticks.push(fn);
      return {} as ReturnType<typeof setInterval>;
    };
    const interval = jest.spyOn(globalThis, 'setInterval').mockImplementation(fake as typeof setInterval);
    try {
      const calls = desk({ 'GET /api/appointments/waiting': { status: 200, body: { visits: [states] } } });
      render(<StaffApp />);
      await flush();
      await flush();
      expect(screen.getByText('Patient waiting')).toBeTruthy();
      // Admitted since: the next read says so.
      states['waiting'] = 0;
      states['inVisit'] = 1;
      expect(ticks).toHaveLength(1);
      await act(async () => ticks[0]!());
      await flush();
      expect(screen.queryByText('Patient waiting')).toBeNull();
      expect(screen.getByText('In the visit')).toBeTruthy();
      expect(calls.filter((c) => c.route === 'GET /api/appointments/waiting')).toHaveLength(2);
    } finally {
      interval.mockRestore();
    }
  });

  it('offers Missed once the appointment has started, after asking', async () => {
    const calls = desk({ 'POST /api/appointments/a1/no-show': { status: 200, body: { appointment } } });
    window.confirm = jest.fn(() => true);
    render(<StaffApp />);
    await flush();
    await flush();
    await act(async () => fireEvent.click(screen.getByRole('button', { name: /as missed$/ })));
    await flush();
    expect(window.confirm).toHaveBeenCalled();
    expect(calls.map((c) => c.route)).toContain('POST /api/appointments/a1/no-show');
  });
});

describe('recurring appointments at the front desk', () => {
  const start = new Date(Date.now() + 24 * 3_600_000);
  start.setMinutes(0, 0, 0);
  const occurrence = (n: number) => ({
    id: `s${n}`,
    clinicianId: 'c1',
    patientId: 'p1',
    startTime: new Date(start.getTime() + (n - 1) * 14 * 86_400_000).toISOString(),
    endTime: new Date(start.getTime() + (n - 1) * 14 * 86_400_000 + 30 * 60_000).toISOString(),
    state: 'scheduled',
    visitId: null,
    seriesId: 'series-1',
    occurrence: n,
  });
  const desk = (extra: Record<string, Answer> = {}) => frontDesk([occurrence(2)], extra);
  const fillAndBook = async () => {
    render(<StaffApp />);
    await flush();
    await flush();
    fireEvent.change(screen.getByLabelText('Clinician'), { target: { value: 'c1' } });
    fireEvent.change(screen.getByLabelText('Patient'), { target: { value: 'p1' } });
    fireEvent.change(screen.getByLabelText('Repeat'), { target: { value: '2' } });
    fireEvent.change(screen.getByLabelText(/^Number of visits/), { target: { value: '3' } });
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Book appointment' })));
    await flush();
  };

  it('books every 2 weeks, 3 visits, and says so', async () => {
    const calls = desk({
      'POST /api/appointments': {
        status: 201,
        body: { appointment: occurrence(1), occurrences: [occurrence(1), occurrence(2), occurrence(3)] },
      },
    });
    await fillAndBook();
    expect(calls.find((c) => c.route === 'POST /api/appointments')?.body).toMatchObject({
      clinicianId: 'c1',
      patientId: 'p1',
      repeatEveryWeeks: 2,
      repeatCount: '3',
    });
    expect(document.getElementById('book-success')?.textContent).toMatch(/^3 appointments booked, from /);
  });

  it("confirms a booking on the clinic's wall clock, not the browser's, without seconds", async () => {
    desk({
      'GET /api/clinic-settings': { status: 200, body: { timeZone: 'Asia/Tokyo' } },
      'POST /api/appointments': {
        status: 201,
        body: { appointment: occurrence(1), occurrences: [occurrence(1)] },
      },
    });
    await fillAndBook();
    const text = document.getElementById('book-success')?.textContent ?? '';
    const tokyo = start.toLocaleTimeString([], { timeStyle: 'short', timeZone: 'Asia/Tokyo' });
    const browser = start.toLocaleTimeString([], { timeStyle: 'short' });
    expect(tokyo).not.toBe(browser); // the case needs a browser zone other than the clinic's
    expect(text).toContain(tokyo);
    expect(text).not.toMatch(/\d:\d\d:\d\d/);
  });

  it('shows every visit of the series that overlaps, and books nothing', async () => {
    desk({
      'POST /api/appointments': {
        status: 400,
        body: {
          error: {
            code: 'INVALID_ARGUMENT',
            message: 'Invalid request.',
            fieldViolations: [
              {
                field: 'occurrences[1].start_time',
                description: 'visit 2 of 3 overlaps another appointment',
              },
              {
                field: 'occurrences[2].start_time',
                description: 'visit 3 of 3 overlaps another appointment',
              },
            ],
          },
        },
      },
    });
    await fillAndBook();
    const alert = document.getElementById('book-error')?.textContent ?? '';
    expect(alert).toContain('visit 2 of 3 overlaps');
    expect(alert).toContain('visit 3 of 3 overlaps');
  });

  it('cancels one visit, or it and the rest of its series', async () => {
    const calls = desk({
      'POST /api/appointments/s2/cancel': {
        status: 200,
        body: { appointment: occurrence(2), following: [] },
      },
    });
    window.confirm = jest.fn(() => true);
    render(<StaffApp />);
    await flush();
    await flush();
    expect(screen.getByText('Visit 2 of a series')).toBeTruthy();
    await act(async () =>
      fireEvent.click(screen.getByRole('button', { name: /and the rest of its series$/ })),
    );
    await flush();
    await act(async () => fireEvent.click(screen.getByRole('button', { name: /^Cancel appointment at/ })));
    await flush();
    const cancels = calls.filter((c) => c.route === 'POST /api/appointments/s2/cancel').map((c) => c.body);
    expect(cancels).toEqual([{ reason: 'other', following: true }, { reason: 'other' }]);
  });
});

describe('participantLabel', () => {
  const p = { id: 'participant-3f2a', kind: 'patient', state: 'lobby' as const, inMedia: false, device: 1 };
  it('names the patient once their name was read, and says which device', () => {
    expect(participantLabel(p, 'Maria Lopez')).toBe('Maria Lopez (patient)');
    expect(participantLabel({ ...p, device: 2 }, 'Maria Lopez')).toBe(
      'Maria Lopez (patient) — second device',
    );
    expect(participantLabel({ ...p, device: 9 }, 'Maria Lopez')).toBe('Maria Lopez (patient) — device 9');
  });
  it('falls back to the id’s end before the name is known', () => {
    expect(participantLabel(p, null)).toBe('Patient 3F2A');
    expect(participantLabel({ ...p, kind: 'guest' }, 'Maria Lopez')).toBe('Guest 3F2A');
    expect(participantLabel({ ...p, kind: 'interpreter' }, 'Maria Lopez')).toBe('Interpreter 3F2A');
    expect(participantLabel({ ...p, kind: 'clinician' }, null)).toBe('Clinician 3F2A');
  });
});

describe('waitedFor', () => {
  const now = Date.parse('2026-12-07T10:30:00Z');
  it('says how long someone has waited, in whole minutes', () => {
    expect(waitedFor('2026-12-07T10:29:30Z', now)).toBe('just now');
    expect(waitedFor('2026-12-07T10:29:00Z', now)).toBe('1 min');
    expect(waitedFor('2026-12-07T10:17:59Z', now)).toBe('12 min');
  });
  it('says nothing when the arrival time is unknown', () => {
    expect(waitedFor(null, now)).toBe('');
    expect(waitedFor('not a time', now)).toBe('');
  });
});
