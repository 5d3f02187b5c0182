/**
 * @jest-environment jsdom
 */
import { act, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { ApiError } from '../api/client';
import { publishRecordingMessage } from './recording-bus';
import { RecordingControls, clinicianStatus } from './recording-controls';
import { initialRecordingUi } from './recording-machine';
import { RecordingsList, formatDuration } from './recordings-list';
import { eventLabel } from './event-label';
import type { RecordingCalls, RecordingItem, RecordingPage, RecordingView } from './recording-api';

const endpoints = { stateUrl: '/api/visits/v1', actionsUrl: '/api/visits/v1/recording' };

/** Recording calls that log what the page asked and answer what the test set. */
function fakeCalls(view: RecordingView = { state: 'off', recordingId: null, consented: false }) {
  const log: string[] = [];
  let pages: RecordingPage[] = [];
  const calls: RecordingCalls = {
    read: async () => view,
    start: async () => {
      log.push('start');
      return { state: 'requested', recordingId: null, awaitingConsent: ['p-1'] };
    },
    stop: async () => {
      log.push('stop');
      return { state: 'off', recordingId: 'rec-1' };
    },
    cancel: async () => {
      log.push('cancel');
      return { state: 'off' };
    },
    consent: async (granted) => {
      log.push(`consent:${granted}`);
      return { granted };
    },
    ack: async () => {
      log.push('ack');
      return { recordingId: 'rec-1' };
    },
    list: async () => {
      log.push('list');
      return pages.length > 1 ? (pages.shift() ?? null) : (pages[0] ?? null);
    },
  };
  return { calls, log, setPages: (p: RecordingPage[]) => (pages = p) };
}

const item = (over: Partial<RecordingItem>): RecordingItem => ({
  id: 'rec-1',
  visitId: 'v1',
  state: 'available',
  percent: 0,
  startTime: '2026-12-06T10:00:00.000Z',
  endTime: '2026-12-06T10:03:07.000Z',
  durationSeconds: 187,
  sizeBytes: 1000,
  legalHold: false,
  partial: false,
  ...over,
});

const live = (m: Record<string, unknown>) => act(() => publishRecordingMessage({ type: 'recording', ...m }));

describe('the clinician’s recording controls', () => {
  it('asks, waits for the patient’s consent, shows and announces the recording, acknowledges it once', async () => {
    const { calls, log } = fakeCalls();
    render(<RecordingControls role="clinician" endpoints={endpoints} live calls={calls} />);
    expect((await screen.findByRole('status')).textContent).toContain('Not recording');
    fireEvent.click(screen.getByRole('button', { name: 'Record' }));
    expect(await screen.findByText('Recording requested: waiting for the patient’s consent')).toBeTruthy();
    expect(screen.getByRole<HTMLButtonElement>('button', { name: 'Record' }).disabled).toBe(true);
    live({ state: 'requested', awaitingConsent: ['p-1'] });
    expect(screen.queryByRole('dialog')).toBeNull(); // asking is the clinician's consent
    live({ state: 'on', recordingId: 'rec-1' });
    expect(screen.getByText('Recording', { selector: '.rec-indicator' })).toBeTruthy();
    expect(document.querySelector('[aria-live="assertive"]')?.textContent).toContain(
      'Recording started. This visit is being recorded.',
    );
    await waitFor(() => expect(log.filter((c) => c === 'ack')).toHaveLength(1));
    live({ state: 'on', recordingId: 'rec-1' });
    expect(log.filter((c) => c === 'ack')).toHaveLength(1);
    expect(screen.getByRole('status').textContent).toBe('Everyone present consented');
    expect(screen.getByRole('button', { name: 'Stop recording' }).getAttribute('aria-pressed')).toBeNull();
  });

  it('stops and shows the processing percent until the recording is playable', async () => {
    const { calls, log, setPages } = fakeCalls({ state: 'on', recordingId: 'rec-1', consented: true });
    setPages([
      { recordings: [item({ state: 'processing', percent: 40 })], nextPageToken: '' },
      { recordings: [item({ state: 'available' })], nextPageToken: '' },
    ]);
    render(<RecordingControls role="clinician" endpoints={endpoints} live calls={calls} pollMs={10} />);
    fireEvent.click(await screen.findByRole('button', { name: 'Stop recording' }));
    expect(await screen.findByText('Processing the recording… 40%')).toBeTruthy();
    expect(await screen.findByText('Not recording')).toBeTruthy();
    expect(log).toContain('stop');
    expect(screen.queryByText('Recording', { selector: '.rec-indicator' })).toBeNull();
  });

  it('says why a recording stopped without the clinician', async () => {
    const { calls } = fakeCalls({ state: 'on', recordingId: 'rec-1', consented: true });
    render(<RecordingControls role="clinician" endpoints={endpoints} live calls={calls} />);
    await screen.findByRole('button', { name: 'Stop recording' });
    live({ state: 'off', recordingId: 'rec-1', reason: 'consent_withdrawn' });
    expect(document.querySelector('[aria-live="assertive"]')?.textContent).toContain(
      'Recording stopped: someone withdrew their consent.',
    );
  });

  it('shows a refused start as an alert', async () => {
    const { calls } = fakeCalls();
    const refusing = {
      ...calls,
      start: () =>
        Promise.reject(
          new ApiError(409, { error: { code: 'FAILED_PRECONDITION', message: 'Recording is off.' } }),
        ),
    };
    render(<RecordingControls role="clinician" endpoints={endpoints} live calls={refusing} />);
    fireEvent.click(await screen.findByRole('button', { name: 'Record' }));
    expect((await screen.findByRole('alert')).textContent).toContain('Recording is off.');
  });

  it('shows at once that the patient refused, naming the role only, and can ask again', async () => {
    const { calls } = fakeCalls();
    render(<RecordingControls role="clinician" endpoints={endpoints} live calls={calls} />);
    fireEvent.click(await screen.findByRole('button', { name: 'Record' }));
    await screen.findByText('Recording requested: waiting for the patient’s consent');
    live({ state: 'off', reason: 'consent_refused', refusedBy: 'patient' });
    expect(screen.getByRole('status').textContent).toBe('Not recording: the patient refused consent.');
    expect(document.querySelector('[aria-live="assertive"]')?.textContent).toBe(
      'Not recording: the patient refused consent.',
    );
    expect(screen.queryByRole('button', { name: 'Cancel request' })).toBeNull();
    expect(screen.queryByText(/Processing/)).toBeNull();
    const record = screen.getByRole<HTMLButtonElement>('button', { name: 'Record' });
    expect(record.disabled).toBe(false);
    fireEvent.click(record);
    expect(await screen.findByText('Recording requested: waiting for the patient’s consent')).toBeTruthy();
  });

  it('keeps what the live channel said while the start call was still on its way', async () => {
    // Under load the pushed refusal (or start) can reach the page before the answer to the clinician's own
    // start call: that answer is older news and must not bring back "waiting for consent".
    for (const [pushed, expected] of [
      [
        { state: 'off', reason: 'consent_refused', refusedBy: 'patient' },
        'Not recording: the patient refused consent.',
      ],
      [{ state: 'on', recordingId: 'rec-1' }, 'Everyone present consented'],
    ] as const) {
      const { calls } = fakeCalls();
      let answer: (() => void) | undefined;
      const slow: RecordingCalls = {
        ...calls,
        start: () =>
          new Promise((resolve) => {
            answer = () => resolve({ state: 'requested', recordingId: null, awaitingConsent: ['p-1'] });
          }),
      };
      render(<RecordingControls role="clinician" endpoints={endpoints} live calls={slow} />);
      fireEvent.click(await screen.findByRole('button', { name: 'Record' }));
      await waitFor(() => expect(answer).toBeDefined());
      live({ state: 'requested', awaitingConsent: ['p-1'] });
      live(pushed);
      await act(async () => answer?.());
      expect(screen.getByRole('status').textContent).toContain(expected);
      expect(screen.getByRole<HTMLButtonElement>('button', { name: /Record|Stop/ }).disabled).toBe(false);
      document.body.innerHTML = '';
    }
  });

  it('names an interpreter who refused, and never anyone by name', () => {
    for (const [role, words] of [
      ['interpreter', 'the interpreter'],
      ['family', 'a family member'],
      ['Ines Alvarez', 'a participant'],
    ] as const) {
      render(<RecordingControls role="clinician" endpoints={endpoints} live calls={fakeCalls().calls} />);
      live({ state: 'requested', awaitingConsent: ['p-1'] });
      live({ state: 'off', reason: 'consent_refused', refusedBy: role });
      expect(screen.getByRole('status').textContent).toBe(`Not recording: ${words} refused consent.`);
      document.body.innerHTML = '';
    }
  });

  it('cancels a pending request', async () => {
    const { calls, log } = fakeCalls();
    render(<RecordingControls role="clinician" endpoints={endpoints} live calls={calls} />);
    expect(screen.queryByRole('button', { name: 'Cancel request' })).toBeNull();
    fireEvent.click(await screen.findByRole('button', { name: 'Record' }));
    fireEvent.click(await screen.findByRole('button', { name: 'Cancel request' }));
    expect(await screen.findByText('Recording request cancelled.', { selector: '.rec-status' })).toBeTruthy();
    expect(log).toEqual(['start', 'cancel']);
    expect(screen.queryByRole('button', { name: 'Cancel request' })).toBeNull();
    expect(screen.getByRole<HTMLButtonElement>('button', { name: 'Record' }).disabled).toBe(false);
    // The pushed message of the same cancel changes nothing more.
    live({ state: 'off', reason: 'cancelled_by_clinician' });
    expect(screen.getByRole('status').textContent).toBe('Recording request cancelled.');
  });

  it('counts the participants still to consent', () => {
    expect(clinicianStatus({ ...initialRecordingUi, server: 'requested', awaiting: ['a', 'b'] })).toBe(
      'Recording requested: waiting for the consent of 2 participants',
    );
  });
});

describe('the patient’s consent', () => {
  it('asks in a modal dialog that keeps the focus, records the answer, and lets them withdraw', async () => {
    const { calls, log } = fakeCalls();
    render(
      <>
        <button type="button">Outside</button>
        <RecordingControls role="patient" endpoints={endpoints} live calls={calls} />
      </>,
    );
    await act(async () => undefined);
    live({ state: 'requested', awaitingConsent: ['p-1'] });
    const dialog = screen.getByRole('dialog', { name: 'May this visit be recorded?' });
    expect(dialog.getAttribute('aria-modal')).toBe('true');
    const give = within(dialog).getByRole('button', { name: 'Give consent' });
    const refuse = within(dialog).getByRole('button', { name: 'Refuse' });
    expect(document.activeElement).toBe(give);
    refuse.focus();
    fireEvent.keyDown(refuse, { key: 'Tab' });
    expect(document.activeElement).toBe(give);
    fireEvent.keyDown(give, { key: 'Tab', shiftKey: true });
    expect(document.activeElement).toBe(refuse);
    fireEvent.click(give);
    await waitFor(() => expect(screen.queryByRole('dialog')).toBeNull());
    expect(log).toContain('consent:true');
    live({ state: 'on', recordingId: 'rec-1' });
    expect(screen.getByText('Recording', { selector: '.rec-indicator' })).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'Withdraw consent to recording' }));
    const withdraw = screen.getByRole('dialog', { name: 'Withdraw your consent?' });
    fireEvent.click(within(withdraw).getByRole('button', { name: 'Withdraw consent' }));
    await waitFor(() => expect(log).toContain('consent:false'));
  });

  it('closes on Escape without an answer and can be answered later; refusing is an answer', async () => {
    const { calls, log } = fakeCalls({ state: 'requested', recordingId: null, consented: false });
    render(<RecordingControls role="patient" endpoints={endpoints} live calls={calls} />);
    const dialog = await screen.findByRole('dialog');
    fireEvent.keyDown(dialog, { key: 'Escape' });
    expect(screen.queryByRole('dialog')).toBeNull();
    expect(log.some((c) => c.startsWith('consent'))).toBe(false);
    fireEvent.click(screen.getByRole('button', { name: 'Answer the recording request' }));
    fireEvent.click(within(screen.getByRole('dialog')).getByRole('button', { name: 'Refuse' }));
    await waitFor(() => expect(log).toContain('consent:false'));
    expect(await screen.findByRole('button', { name: 'Change your answer about recording' })).toBeTruthy();
  });
});

describe('the first read, answered after a push', () => {
  it('does not undo what the live channel already said', async () => {
    // A pushed cancel lands while the page's first read (made while the request was pending) is on its way.
    let answer: ((view: RecordingView) => void) | undefined;
    const calls: RecordingCalls = {
      ...fakeCalls().calls,
      read: () => new Promise<RecordingView>((resolve) => (answer = resolve)),
    };
    render(<RecordingControls role="patient" endpoints={endpoints} live calls={calls} />);
    await waitFor(() => expect(answer).toBeDefined());
    live({ state: 'requested', awaitingConsent: ['p-1'] });
    expect(screen.getByRole('dialog')).toBeTruthy();
    live({ state: 'off', reason: 'cancelled_by_clinician' });
    expect(screen.queryByRole('dialog')).toBeNull();
    await act(async () => answer?.({ state: 'requested', recordingId: null, consented: false }));
    expect(screen.queryByRole('dialog')).toBeNull();
  });
});

describe('a patient asked when the request ends', () => {
  it('closes the dialog when the clinician cancels', async () => {
    const { calls } = fakeCalls();
    render(<RecordingControls role="patient" endpoints={endpoints} live calls={calls} />);
    await act(async () => undefined);
    live({ state: 'requested', awaitingConsent: ['p-1'] });
    expect(screen.getByRole('dialog')).toBeTruthy();
    live({ state: 'off', reason: 'cancelled_by_clinician' });
    expect(screen.queryByRole('dialog')).toBeNull();
    expect(screen.getByText('Recording request cancelled.', { selector: '.rec-note' })).toBeTruthy();
    expect(screen.queryByRole('button', { name: 'Answer the recording request' })).toBeNull();
  });
});

describe('a patient waiting to be let in', () => {
  it('is asked first when the visit is already being recorded, and acknowledges nothing yet', async () => {
    const { calls, log } = fakeCalls({ state: 'on', recordingId: 'rec-1', consented: false });
    render(
      <RecordingControls role="patient" endpoints={endpoints} live={false} present={false} calls={calls} />,
    );
    const dialog = await screen.findByRole('dialog', { name: 'This visit is being recorded' });
    expect(dialog.textContent).toContain('You can join it only if you agree to be recorded.');
    fireEvent.click(within(dialog).getByRole('button', { name: 'Give consent' }));
    await waitFor(() => expect(log).toContain('consent:true'));
    expect(log).not.toContain('ack');
  });

  it('is not told a recording they were never asked about has their consent', async () => {
    const { calls } = fakeCalls();
    render(
      <RecordingControls role="patient" endpoints={endpoints} live={false} present={false} calls={calls} />,
    );
    await act(async () => undefined);
    live({ state: 'on', recordingId: 'rec-1' });
    expect(screen.getByRole('dialog', { name: 'This visit is being recorded' })).toBeTruthy();
  });
});

describe('the recordings list', () => {
  it('shows the processing percent and plays an available recording through a playback grant', async () => {
    const pages: RecordingPage[] = [
      {
        recordings: [item({ id: 'rec-2', state: 'processing', percent: 60 }), item({ id: 'rec-1' })],
        nextPageToken: '',
      },
    ];
    const played: string[] = [];
    render(
      <RecordingsList
        listUrl="/api/recordings?visit=v1"
        role="clinician"
        load={async () => pages[0]!}
        play={async (id, purpose) => {
          played.push(`${id}:${purpose ?? ''}`);
          return { url: `/api/recordings/${id}/media?grant=g`, expireTime: null, contentType: 'video/webm' };
        }}
      />,
    );
    expect(await screen.findByText('Processing… 60%')).toBeTruthy();
    expect(screen.getByText('3:07')).toBeTruthy();
    const play = screen.getAllByRole('button', { name: /^Play the recording/ });
    expect(play).toHaveLength(1);
    fireEvent.click(play[0]!);
    const video = await waitFor(() => {
      const v = document.querySelector('video');
      if (!v) throw new Error('no video');
      return v;
    });
    expect(video.getAttribute('src')).toBe('/api/recordings/rec-1/media?grant=g');
    expect(played).toEqual(['rec-1:treatment']);
  });

  it('says which recording is partial: the media server stopped during it', async () => {
    const page: RecordingPage = {
      recordings: [item({ id: 'rec-2', partial: true }), item({ id: 'rec-1' })],
      nextPageToken: '',
    };
    render(<RecordingsList listUrl="/api/recordings?visit=v1" role="clinician" load={async () => page} />);
    const partial = await screen.findByText(/Partial/);
    expect(partial.closest('li')?.getAttribute('data-recording')).toBe('rec-2');
    expect(partial.textContent).toBe('3:07 · Partial: the media server stopped during the recording');
    expect(screen.getAllByText(/Partial/)).toHaveLength(1);
  });

  it('is not shown when the clinic does not let the patient see recordings', async () => {
    let asked = 0;
    const { container } = render(
      <RecordingsList
        listUrl="/api/patient/recordings"
        role="patient"
        load={async () => {
          asked += 1;
          throw new ApiError(403, { error: { code: 'PERMISSION_DENIED', message: 'no' } });
        }}
      />,
    );
    await waitFor(() => expect(asked).toBe(1));
    await waitFor(() => expect(container.querySelector('section')).toBeNull());
  });

  it('says the list could not be read instead of loading for ever', async () => {
    render(
      <RecordingsList
        listUrl="/api/recordings?visit=v1"
        role="clinician"
        load={async () => {
          throw new ApiError(503, { error: { code: 'UNAVAILABLE', message: 'down' } });
        }}
      />,
    );
    expect(await screen.findByRole('alert')).toBeTruthy();
    expect(screen.queryByText('Loading…')).toBeNull();
  });

  it('formats durations', () => {
    expect(formatDuration(0)).toBe('0:00');
    expect(formatDuration(187)).toBe('3:07');
    expect(formatDuration(3725)).toBe('1:02:05');
  });
});

describe('the audit view’s labels', () => {
  it('names recording views and any other event in words', () => {
    expect(eventLabel('haven.recording.v1.RecordingViewed')).toBe('Recording viewed');
    expect(eventLabel('recording.v1.RecordingViewed')).toBe('Recording viewed');
    expect(eventLabel('events.v1.PhiAccessed')).toBe('Health information accessed');
    expect(eventLabel('haven.session.v1.RecordingConsentGiven')).toBe('Recording consent given');
    expect(eventLabel('not a type')).toBe('not a type');
  });
});
