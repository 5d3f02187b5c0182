/**
 * @jest-environment jsdom
 */
import { act, fireEvent, render, screen } from '@testing-library/react';
import { answerInOrder, jsonResponse, pathOf } from '../testing/fake-api';
import { JoinApp, otherDevicesLine } from './join-app';
import { pushToSockets, useFakeSockets } from '../testing/fake-socket';

async function submitPasscode(value: string) {
  fireEvent.change(screen.getByLabelText('Passcode'), { target: { value } });
  await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Continue' })));
}

describe('the patient’s join page', () => {
  it('sends the token and passcode, then starts the self-check', async () => {
    const calls = answerInOrder({ status: 200, body: {} });
    render(<JoinApp token="tok" />);
    expect(document.activeElement?.textContent).toBe('Your video visit');
    await submitPasscode('123456');
    expect(calls).toEqual([
      { method: 'POST', path: '/api/join', body: { token: 'tok', passcode: '123456' } },
    ]);
    expect(screen.getByRole('heading', { name: 'Check your camera and microphone' })).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Start the check' })).toBeTruthy();
  });

  it('says a wrong passcode is wrong, clears it and keeps the patient on the step', async () => {
    answerInOrder({
      status: 400,
      body: { error: { code: 'INVALID', message: 'That passcode is not right. 4 attempts left.' } },
    });
    render(<JoinApp token="tok" />);
    await submitPasscode('000000');
    expect(screen.getByRole('alert').textContent).toBe('That passcode is not right. 4 attempts left.');
    const input = screen.getByLabelText<HTMLInputElement>('Passcode');
    expect(input.value).toBe('');
    expect(input.getAttribute('aria-invalid')).toBe('true');
  });

  it('asks for the date of birth when the clinic requires it', async () => {
    const dob = {
      error: { code: 'INVALID', fieldViolations: [{ field: 'dateOfBirth', description: 'required' }] },
    };
    const calls = answerInOrder({ status: 400, body: dob }, { status: 200, body: {} });
    render(<JoinApp token="tok" />);
    await submitPasscode('123456');
    expect(screen.getByText('Please enter your date of birth.')).toBeTruthy();
    fireEvent.change(screen.getByLabelText('Your date of birth'), { target: { value: '1975-09-30' } });
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Continue' })));
    expect(calls[1]?.body).toEqual({ token: 'tok', passcode: '123456', dateOfBirth: '1975-09-30' });
  });

  it('explains a link that cannot be used (409)', async () => {
    answerInOrder({
      status: 409,
      body: { error: { code: 'FAILED_PRECONDITION', message: 'This visit was cancelled.' } },
    });
    render(<JoinApp token="tok" />);
    await submitPasscode('123456');
    expect(screen.getByRole('heading', { name: 'We cannot open this visit' })).toBeTruthy();
    expect(screen.getByText('This visit was cancelled.')).toBeTruthy();
  });

  it('without a link or a patient cookie, says the page needs the link', async () => {
    answerInOrder({ status: 401, body: {} }, { status: 401, body: {} });
    render(<JoinApp token="" />);
    await act(async () => undefined);
    expect(
      await screen.findByText('This page needs the link the clinic sent you. Please open that link again.'),
    ).toBeTruthy();
  });

  it('tells a waiting device which of the patient’s other devices are already in', async () => {
    answerInOrder({ status: 200, body: { status: 'waiting', locked: false, yourOtherDevicesIn: [1] } });
    render(<JoinApp token="" />);
    expect(
      await screen.findByText(
        'Your other device (device 1) is already in the visit. Your clinician lets this one in separately.',
      ),
    ).toBeTruthy();
  });
});

describe('the waiting room: the read after arriving lands after the live channel pushed', () => {
  useFakeSockets();
  const realDevices = Object.getOwnPropertyDescriptor(navigator, 'mediaDevices');
  beforeEach(() => {
    // No camera or microphone allowed: the check still lets the patient go on.
    Object.defineProperty(navigator, 'mediaDevices', {
      configurable: true,
      value: {
        getUserMedia: () => Promise.reject(Object.assign(new Error('no'), { name: 'NotAllowedError' })),
        enumerateDevices: () => Promise.resolve([]),
      },
    });
  });
  afterEach(() => {
    if (realDevices) Object.defineProperty(navigator, 'mediaDevices', realDevices);
    else Reflect.deleteProperty(navigator, 'mediaDevices');
  });

  const push = (m: Record<string, unknown>) => act(() => pushToSockets(m));

  it('keeps the lock and the other devices the live channel pushed while that read was on its way', async () => {
    const held: Array<(body: unknown) => void> = [];
    globalThis.fetch = jest.fn((input: RequestInfo | URL, init?: RequestInit) => {
      if (`${init?.method ?? 'GET'} ${pathOf(input)}` === 'GET /api/patient/visit') {
        return new Promise<Response>((resolve) => held.push((body) => resolve(jsonResponse(200, body))));
      }
      return Promise.resolve(jsonResponse(200, {}));
    });
    render(<JoinApp token="tok" />);
    await submitPasscode('123456');
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Start the check' })));
    push({ type: 'hello' });
    fireEvent.click(await screen.findByRole('button', { name: 'Go to the waiting room' }));
    await act(async () => new Promise((r) => setTimeout(r, 0)));
    expect(held.length).toBeGreaterThan(0);
    // The clinician locks the visit and the patient's phone is let in while the page reads the visit.
    push({ type: 'visit', status: 'waiting', locked: true, yourOtherDevicesIn: [2] });
    expect(screen.getByText(/paused new arrivals/)).toBeTruthy();
    await act(async () => held.splice(0).forEach((answer) => answer({ status: 'waiting', locked: false })));
    await act(async () => new Promise((r) => setTimeout(r, 0)));
    expect(screen.getByText(/paused new arrivals/)).toBeTruthy();
    expect(document.querySelector('#waiting-devices')?.textContent).toContain('device 2');
  });
});

describe('otherDevicesLine', () => {
  it('says nothing without another device in, and names one or several', () => {
    expect(otherDevicesLine([])).toBeNull();
    expect(otherDevicesLine([2])).toBe(
      'Your other device (device 2) is already in the visit. Your clinician lets this one in separately.',
    );
    expect(otherDevicesLine([1, 3])).toBe(
      'Your other devices (devices 1 and 3) are already in the visit. Your clinician lets this one in separately.',
    );
  });
});
