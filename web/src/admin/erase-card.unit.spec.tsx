/**
 * @jest-environment jsdom
 */
import { act, fireEvent, render, screen } from '@testing-library/react';
import { setClinicTimeZone } from '../staff/time';
import { CLINIC_ZONE, expectOnClinicClock } from '../testing/clinic-clock';
import { flush, invalidArgument, serveApi } from '../testing/fake-api';
import { EraseCard } from './erase-card';

function fill(id: string, reason: string, confirm: string) {
  fireEvent.change(screen.getByLabelText(/^Patient id/), { target: { value: id } });
  fireEvent.change(screen.getByLabelText(/^Reason/), { target: { value: reason } });
  fireEvent.change(screen.getByLabelText(/^Type the patient id again/), { target: { value: confirm } });
}

describe('the erase-a-patient card', () => {
  afterEach(() => setClinicTimeZone(undefined));

  it('sends the reason and the typed confirmation, shows a refusal, then the outcome', async () => {
    setClinicTimeZone(CLINIC_ZONE);
    let n = 0;
    const calls = serveApi({
      'POST /api/patients/pat-7/erase': () =>
        ++n === 1
          ? {
              status: 409,
              body: {
                error: {
                  code: 'FUTURE_APPOINTMENT',
                  message: 'The patient has an appointment to come: cancel it first, then erase.',
                },
              },
            }
          : {
              status: 200,
              body: {
                patient: {
                  id: 'pat-7',
                  erased: true,
                  erasedAt: '2026-12-06T10:00:00.000Z',
                  reason: 'patient_request',
                },
              },
            },
    });
    render(<EraseCard />);
    const button = screen.getByRole<HTMLButtonElement>('button', { name: 'Erase patient' });
    expect(button.disabled).toBe(true); // nothing to erase yet
    fill('pat-7', 'patient_request', 'pat-7');
    expect(button.disabled).toBe(false);
    await act(async () => fireEvent.click(button));
    await flush();
    expect(screen.getByRole('alert').textContent).toBe(
      'The patient has an appointment to come: cancel it first, then erase.',
    );
    await act(async () => fireEvent.click(button));
    await flush();
    expect(calls.filter((c) => c.route === 'POST /api/patients/pat-7/erase').at(-1)?.body).toEqual({
      reason: 'patient_request',
      confirm: 'pat-7',
    });
    expect(screen.getByRole('status').textContent).toMatch(/^Patient pat-7 was erased on .*legal hold/);
    expectOnClinicClock(screen.getByRole('status').textContent ?? '', '2026-12-06T10:00:00.000Z');
    expect(screen.getByLabelText<HTMLInputElement>(/^Patient id/).value).toBe('');
  });

  it('shows the gateway’s field errors on the fields (a confirmation that does not match)', async () => {
    serveApi({
      'POST /api/patients/pat-8/erase': invalidArgument(
        'confirm',
        'must be the patient id, typed again',
        'Some fields need attention.',
      ),
    });
    render(<EraseCard />);
    fill('pat-8', 'legal_order', 'pat-9');
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Erase patient' })));
    await flush();
    expect(document.getElementById('confirm-error')?.textContent).toBe(
      'Type the patient id again must be the patient id, typed again.',
    );
  });
});
