/**
 * @jest-environment jsdom
 */
import { act, fireEvent, render, screen } from '@testing-library/react';
import { setClinicTimeZone, timeZone } from '../staff/time';
import { CLINIC_ZONE, expectOnClinicClock } from '../testing/clinic-clock';
import { flush, invalidArgument, serveApi } from '../testing/fake-api';
import { SettingsCard } from './settings-card';

/** The settings in force while nobody saved any: the deployment's. */
const IN_FORCE = {
  timeZone: 'UTC',
  updateTime: null,
  passcodeDelivery: 'front-desk',
  recordingPolicy: null,
  recordingPatientAccess: null,
  linkGraceMinutes: 30,
  fromDeployment: { idleTimeoutSec: 900 },
};

/** Clicks Save settings and lets the answer render. */
async function save(): Promise<void> {
  await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Save settings' })));
  await flush();
}

/**
 * The settings API: GET answers `inForce`; the first PUT is refused on `field` (a 400 with `message` and the
 * field's `description`), every later one answers `saved`. Returns the bodies of the PUTs so far.
 */
function settingsApi(
  inForce: Record<string, unknown>,
  refusal: { message: string; field: string; description: string },
  saved: Record<string, unknown>,
): () => unknown[] {
  let n = 0;
  const calls = serveApi({
    'GET /api/clinic-settings': { status: 200, body: inForce },
    'PUT /api/clinic-settings': () =>
      ++n === 1
        ? invalidArgument(refusal.field, refusal.description, refusal.message)
        : { status: 200, body: saved },
  });
  return () => calls.filter((c) => c.route === 'PUT /api/clinic-settings').map((c) => c.body);
}

describe('the clinic settings card', () => {
  afterEach(() => setClinicTimeZone(undefined));

  it('saves the time zone, shows a refusal on the field, and the pages use the new zone', async () => {
    const puts = settingsApi(
      { timeZone: 'UTC', updateTime: null, fromDeployment: { idleTimeoutSec: 900 } },
      {
        message: 'Invalid request.',
        field: 'timeZone',
        description: 'must be an IANA time zone such as Europe/Berlin',
      },
      {
        timeZone: 'Europe/Berlin',
        updateTime: '2026-12-06T10:00:00.000Z',
        fromDeployment: { idleTimeoutSec: 900 },
      },
    );
    render(<SettingsCard />);
    await flush();
    expect(screen.getByLabelText<HTMLInputElement>(/Time zone/).value).toBe('UTC');
    expect(screen.getByLabelText<HTMLInputElement>(/Idle sign-out/).value).toBe('15');
    expect(document.getElementById('admin-settings-idle')?.textContent).toContain(
      'the deployment’s default applies: 15 minutes (HAVEN_IDLE_TIMEOUT_SEC)',
    );
    fireEvent.change(screen.getByLabelText(/Time zone/), { target: { value: 'Mars/Olympus' } });
    await save();
    expect(document.getElementById('timeZone-error')?.textContent).toBe(
      'Time zone must be an IANA time zone such as Europe/Berlin.',
    );
    fireEvent.change(screen.getByLabelText(/Time zone/), { target: { value: 'Europe/Berlin' } });
    await save();
    expect(puts().at(-1)).toEqual({ timeZone: 'Europe/Berlin' });
    expect(screen.getByRole('status').textContent).toBe('The clinic’s time zone is now Europe/Berlin.');
    expect(timeZone()).toBe('Europe/Berlin');
  });
  it('says when the settings were last changed on the clinic’s clock, without seconds', async () => {
    const updateTime = '2026-12-06T10:00:00.000Z';
    setClinicTimeZone(CLINIC_ZONE); // as the staff app does once signed in
    serveApi({
      'GET /api/clinic-settings': { status: 200, body: { ...IN_FORCE, timeZone: CLINIC_ZONE, updateTime } },
    });
    render(<SettingsCard />);
    await flush();
    expectOnClinicClock(screen.getByText(/Last changed/).textContent ?? '', updateTime);
  });

  it('sends only the fields that changed, and shows a refusal on its field', async () => {
    const inForce = IN_FORCE;
    const puts = settingsApi(
      inForce,
      {
        message: 'Some fields need attention.',
        field: 'passcodeDelivery',
        description: 'SMS or e-mail needs both an e-mail relay and an SMS provider configured',
      },
      { ...inForce, recordingPolicy: 'off', linkGraceMinutes: 10, updateTime: '2026-12-06T10:00:00.000Z' },
    );
    render(<SettingsCard />);
    await flush();
    // Nobody saved a recording policy: the deployment's default is what is shown.
    expect(screen.getByLabelText<HTMLSelectElement>('Recording').value).toBe('');
    fireEvent.change(screen.getByLabelText('Passcode delivery'), { target: { value: 'sms' } });
    await save();
    expect(puts().at(-1)).toEqual({ passcodeDelivery: 'sms' });
    expect(document.getElementById('passcodeDelivery-error')?.textContent).toMatch(
      /^Passcode delivery SMS or e-mail needs both an e-mail relay and an SMS provider/,
    );
    fireEvent.change(screen.getByLabelText('Passcode delivery'), { target: { value: 'front-desk' } });
    fireEvent.change(screen.getByLabelText('Recording'), { target: { value: 'off' } });
    fireEvent.change(screen.getByLabelText(/Link stays open/), { target: { value: '10' } });
    await save();
    expect(puts().at(-1)).toEqual({ recordingPolicy: 'off', linkGraceMinutes: 10 });
    expect(screen.getByRole('status').textContent).toBe(
      'Saved: Recording, Link stays open after the end. It applies from now on.',
    );
    expect(screen.getByLabelText<HTMLSelectElement>('Recording').value).toBe('off');
  });

  it('saves the idle sign-out in whole minutes from 1 to 60, refusing others on the field before sending', async () => {
    const inForce = { ...IN_FORCE, idleTimeoutSec: null };
    const puts = settingsApi(
      inForce,
      {
        message: 'Invalid request.',
        field: 'idleTimeoutSec',
        description: 'must be whole minutes from 1 to 60 (in seconds, 60 to 3600)',
      },
      { ...inForce, idleTimeoutSec: 300, updateTime: '2026-12-06T10:00:00.000Z' },
    );
    render(<SettingsCard />);
    await flush();
    for (const bad of ['0', '61', '1.5', '']) {
      fireEvent.change(screen.getByLabelText(/Idle sign-out/), { target: { value: bad } });
      await save();
      expect([bad, document.getElementById('idleTimeoutMinutes-error')?.textContent]).toEqual([
        bad,
        'Idle sign-out must be a whole number of minutes from 1 to 60.',
      ]);
    }
    expect(puts()).toHaveLength(0);
    // A refusal by the gateway (seconds) lands on the same field, in minutes.
    fireEvent.change(screen.getByLabelText(/Idle sign-out/), { target: { value: '5' } });
    await save();
    expect(puts().at(-1)).toEqual({ idleTimeoutSec: 300 });
    expect(document.getElementById('idleTimeoutMinutes-error')?.textContent).toBe(
      'Idle sign-out must be a whole number of minutes from 1 to 60.',
    );
    await save();
    expect(puts().at(-1)).toEqual({ idleTimeoutSec: 300 });
    expect(screen.getByRole('status').textContent).toBe('Saved: Idle sign-out. It applies from now on.');
    expect(screen.getByLabelText<HTMLInputElement>(/Idle sign-out/).value).toBe('5');
    expect(document.getElementById('admin-settings-idle')?.textContent).toContain(
      'The deployment’s default is 15 minutes.',
    );
  });
});
