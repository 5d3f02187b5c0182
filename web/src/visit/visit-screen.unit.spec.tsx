/**
 * @jest-environment jsdom
 */
import { act, render, screen, within } from '@testing-library/react';
import type { MediaCredentials } from '../api/types';
import { BACKGROUND_REASONS, type BackgroundKind, type BackgroundSupport } from './background';
import type { Names, VisitRead } from './roster';
import type { FeedStats, MediaRoom, MediaRoomListener, RemoteFeed } from './janus';
import type { VisitEvent } from './machine';
import { VisitScreen, initials } from './visit-screen';

/** A media room driven by the test: it records the controls and reports what the test tells it to. */
class FakeRoom implements MediaRoom {
  publisherId: number | null = null;
  readonly calls: string[] = [];
  constructor(readonly listener: MediaRoomListener) {}
  async join(_creds: MediaCredentials): Promise<void> {
    this.calls.push('join');
  }
  setMic(on: boolean): void {
    this.calls.push(`mic:${on}`);
  }
  setCamera(on: boolean): void {
    this.calls.push(`camera:${on}`);
  }
  async setSharing(on: boolean): Promise<boolean> {
    this.calls.push(`share:${on}`);
    this.listener.event({ type: 'ShareChanged', on });
    return on;
  }
  /** What the next setBackground does: resolve, or reject as a device that cannot run the effect. */
  blurFails = false;
  async setBackground(kind: BackgroundKind | null): Promise<void> {
    this.calls.push(`background:${kind}`);
    if (this.blurFails) throw new Error('no WebGL context');
  }
  leave(): void {
    this.calls.push('leave');
  }
  close(): void {
    this.calls.push('close');
  }
  /** What the next stats() answers (the test sets it). */
  nextStats: FeedStats[] = [];
  async stats(): Promise<FeedStats[]> {
    return this.nextStats;
  }
}

const creds: MediaCredentials = {
  serverUrl: '/api/media',
  mediaCredential: 'c',
  participantId: 'p',
  expireTime: null,
  iceServers: [],
};

/** The visit read the fake gateway answers: participant id → role and device. */
const ROSTER = {
  participants: [
    { id: 'pclin', kind: 'clinician', device: 1 },
    { id: 'ppat', kind: 'patient', device: 1 },
  ],
};

async function renderVisit(
  role: 'clinician' | 'patient' = 'clinician',
  roster: VisitRead = ROSTER,
  support: BackgroundSupport = { ok: true },
  names?: Names,
) {
  let room: FakeRoom | undefined;
  const left: string[] = [];
  const rosterReads: string[] = [];
  render(
    <VisitScreen
      mediaUrl="/api/visits/v1/media"
      leaveUrl="/api/visits/v1/leave"
      role={role}
      {...(names ? { names } : {})}
      deps={{
        createRoom: (l) => (room = new FakeRoom(l)),
        fetchCredentials: async () => creds,
        notifyLeft: async (url) => {
          left.push(url);
        },
        fetchRoster: async (url) => {
          rosterReads.push(url);
          return roster;
        },
        backgroundSupport: () => support,
      }}
    />,
  );
  await act(async () => undefined); // the credential arrives, join() is called
  const r = room!;
  const send = (...events: VisitEvent[]) => act(() => events.forEach((e) => r.listener.event(e)));
  const feeds = async (f: RemoteFeed[]) => {
    act(() => r.listener.feeds(f));
    await act(async () => undefined); // the roster read answers
  };
  return { room: r, send, feeds, left, rosterReads };
}

/** A camera feed published by participant `who` (the proxy's display is `<participant id>.<MAC>`). */
const camera = (id: number, who = 'pclin'): RemoteFeed => ({
  id,
  kind: 'camera',
  display: `${who}.bWFj`,
  video: null,
  audio: null,
});
const controls = () => within(screen.getByRole('toolbar', { name: 'Visit controls' }));

describe('the visit screen', () => {
  it('joins with the credential and says it is connecting', async () => {
    const { room } = await renderVisit();
    expect(room.calls).toEqual(['join']);
    expect(screen.getByRole('status')).toHaveProperty('textContent', 'Connecting to your visit…');
  });

  describe('when live', () => {
    it('shows the remote participant as the main tile, with initials while their camera is off', async () => {
      const { send, feeds } = await renderVisit('patient');
      send({ type: 'JoinSent' }, { type: 'MediaConnected' });
      await feeds([camera(7)]);
      const main = document.querySelector('.tile-main');
      expect(main?.textContent).toContain('Clinician');
      expect(main?.querySelector('.tile-initials')?.textContent).toBe('C');
    });

    it('labels each tile by the role the visit read gives its participant, never by guess', async () => {
      const { send, feeds, rosterReads } = await renderVisit('clinician', {
        visit: {
          participants: [
            { id: 'pclin', kind: 'clinician', device: 1 },
            { id: 'ppat', kind: 'patient', device: 1 },
            { id: 'ppat2', kind: 'patient', device: 2 },
          ],
        },
      });
      send({ type: 'JoinSent' }, { type: 'MediaConnected' });
      await feeds([camera(7, 'ppat'), camera(8, 'ppat2')]);
      expect(rosterReads).toEqual(['/api/visits/v1']);
      expect(document.querySelector('.tile-main')?.textContent).toContain('Patient');
      const strip = screen.getByRole('list', { name: 'Others in the visit' });
      expect(within(strip).getByText('Patient (second device)')).toBeTruthy();
    });

    it('shows the patient’s own second device as theirs, not as the clinician', async () => {
      const { send, feeds } = await renderVisit('patient', {
        participants: [
          { id: 'pclin', kind: 'clinician', device: 1 },
          { id: 'ppat', kind: 'patient', device: 1, yours: true },
        ],
      });
      send({ type: 'JoinSent' }, { type: 'MediaConnected' });
      await feeds([camera(7, 'ppat'), camera(8, 'pclin')]);
      expect(document.querySelector('.tile-main')?.textContent).toContain('Your other device');
      const strip = screen.getByRole('list', { name: 'Others in the visit' });
      expect(within(strip).getByText('Clinician')).toBeTruthy();
    });

    it('shows the clinician’s name and role to the patient, with their initials while the camera is off', async () => {
      const { send, feeds } = await renderVisit('patient', {
        participants: [
          { id: 'pclin', kind: 'clinician', device: 1, name: 'Dr. Amara Okafor' },
          { id: 'ppat', kind: 'patient', device: 1 },
        ],
      });
      send({ type: 'JoinSent' }, { type: 'MediaConnected' });
      await feeds([camera(7)]);
      const main = document.querySelector('.tile-main');
      expect(main?.querySelector('figcaption')?.textContent).toBe(
        'Dr. Amara Okafor — clinician (camera off)',
      );
      expect(main?.querySelector('.tile-initials')?.textContent).toBe('AO');
    });

    it('shows the clinician the patient’s name their console already read, and nobody else’s', async () => {
      const { room } = await renderVisit(
        'clinician',
        {
          visit: {
            participants: [
              { id: 'pclin', kind: 'clinician', device: 1, name: 'Dr. Amara Okafor' },
              { id: 'ppat', kind: 'patient', device: 1 },
              { id: 'pint', kind: 'interpreter', device: 1 },
            ],
          },
        },
        { ok: true },
        { patient: 'Maria Lopez' },
      );
      act(() => room.listener.event({ type: 'JoinSent' }));
      act(() => room.listener.event({ type: 'MediaConnected' }));
      act(() => room.listener.feeds([camera(7, 'ppat'), camera(8, 'pint')]));
      await act(async () => undefined);
      expect(document.querySelector('.tile-main figcaption')?.textContent).toBe(
        'Maria Lopez — patient (camera off)',
      );
      expect(document.querySelector('.tile-main .tile-initials')?.textContent).toBe('ML');
      const strip = screen.getByRole('list', { name: 'Others in the visit' });
      expect(within(strip).getByText('Interpreter')).toBeTruthy();
    });

    it('says "Participant" for someone the visit read does not list', async () => {
      const { send, feeds, rosterReads } = await renderVisit('patient', { participants: [] });
      send({ type: 'JoinSent' }, { type: 'MediaConnected' });
      await feeds([camera(7, 'pstranger')]);
      expect(rosterReads).toEqual(['/api/patient/visit']);
      expect(document.querySelector('.tile-main')?.textContent).toContain('Participant');
      expect(document.querySelector('.tile-main')?.textContent).not.toContain('Clinician');
    });

    it('mutes and unmutes with aria-pressed saying the state', async () => {
      const { room, send } = await renderVisit();
      send({ type: 'JoinSent' }, { type: 'MediaConnected' });
      const mute = controls().getByRole('button', { name: 'Mute' });
      expect(mute.getAttribute('aria-pressed')).toBe('false');
      act(() => mute.click());
      expect(mute.getAttribute('aria-pressed')).toBe('true');
      act(() => mute.click());
      expect(mute.getAttribute('aria-pressed')).toBe('false');
      expect(room.calls).toEqual(['join', 'mic:false', 'mic:true']);
    });

    it('shows initials on the self-view when the camera is stopped', async () => {
      const { send } = await renderVisit('patient');
      send({ type: 'JoinSent' }, { type: 'MediaConnected' });
      act(() => controls().getByRole('button', { name: 'Stop camera' }).click());
      expect(document.querySelector('.tile-self .tile-initials')?.textContent).toBe('Y');
      expect(controls().getByRole('button', { name: 'Stop camera' }).getAttribute('aria-pressed')).toBe(
        'true',
      );
    });

    it('puts a screen share on the main stage and the faces in a strip', async () => {
      const { send, feeds } = await renderVisit('patient');
      send({ type: 'JoinSent' }, { type: 'MediaConnected' });
      await feeds([camera(7), { ...camera(8), kind: 'screen' }]);
      expect(document.querySelector('.tile-main')?.textContent).toContain('Clinician’s screen');
      const strip = screen.getByRole('list', { name: 'Others in the visit' });
      expect(within(strip).getByText('Clinician')).toBeTruthy();
    });

    it('moves the self-view to another corner from the keyboard', async () => {
      const { send } = await renderVisit();
      send({ type: 'JoinSent' }, { type: 'MediaConnected' });
      const self = () => document.querySelector('.tile-self')?.className ?? '';
      expect(self()).toContain('tile-self-bottom-right');
      act(() => screen.getByRole('button', { name: 'Move your self-view to another corner' }).click());
      expect(self()).toContain('tile-self-bottom-left');
    });
  });

  describe('background blur', () => {
    const blur = () => controls().getByRole('button', { name: /^Blur background/ });

    it('shows one word under its icon and keeps the full name for assistive technology', async () => {
      const { send } = await renderVisit('patient');
      send({ type: 'JoinSent' }, { type: 'MediaConnected' });
      expect(blur().textContent).toBe('Blur');
      const picture = controls().getByRole('button', { name: 'Background picture' });
      expect(picture.textContent).toBe('Background');
    });

    it('is off by default and switches on and off on the device, saying its state', async () => {
      const { room, send } = await renderVisit('patient');
      send({ type: 'JoinSent' }, { type: 'MediaConnected' });
      expect(blur().getAttribute('aria-pressed')).toBe('false');
      expect(room.calls).not.toContain('background:blur');
      await act(async () => blur().click());
      expect(blur().getAttribute('aria-pressed')).toBe('true');
      await act(async () => blur().click());
      expect(blur().getAttribute('aria-pressed')).toBe('false');
      expect(room.calls.filter((c) => c.startsWith('background'))).toEqual([
        'background:blur',
        'background:null',
      ]);
    });

    it('is disabled with the reason when the device cannot run it (no WebGL)', async () => {
      const { room, send } = await renderVisit('patient', ROSTER, {
        ok: false,
        reason: BACKGROUND_REASONS.noWebGl,
      });
      send({ type: 'JoinSent' }, { type: 'MediaConnected' });
      expect(blur()).toHaveProperty('disabled', true);
      expect(blur().getAttribute('title')).toBe(BACKGROUND_REASONS.noWebGl);
      const describedBy = blur().getAttribute('aria-describedby') ?? '';
      expect(document.getElementById(describedBy)?.textContent).toBe(BACKGROUND_REASONS.noWebGl);
      act(() => blur().click());
      expect(room.calls).not.toContain('background:blur');
    });

    it('turns itself off and says why when the effect fails to start', async () => {
      const { room, send } = await renderVisit('patient');
      send({ type: 'JoinSent' }, { type: 'MediaConnected' });
      room.blurFails = true;
      await act(async () => blur().click());
      expect(room.calls).toContain('background:blur');
      expect(blur().getAttribute('aria-pressed')).toBe('false');
      expect(blur()).toHaveProperty('disabled', true);
      expect(blur().getAttribute('title')).toBe(BACKGROUND_REASONS.failed);
    });

    it('turns itself off and says why, out loud, when the running effect gives up', async () => {
      const { room, send } = await renderVisit('patient');
      send({ type: 'JoinSent' }, { type: 'MediaConnected' });
      const alert = screen.getByRole('alert');
      expect(alert.textContent).toBe('');
      await act(async () => blur().click());
      expect(blur().getAttribute('aria-pressed')).toBe('true');
      act(() => room.listener.backgroundStopped?.(BACKGROUND_REASONS.tooSlow));
      expect(blur().getAttribute('aria-pressed')).toBe('false');
      // The same live region, now with the reason: a screen reader says it.
      expect(screen.getByRole('alert')).toBe(alert);
      expect(alert.textContent).toBe(BACKGROUND_REASONS.tooSlow);
      // It can be tried again; the reason goes once the user switches it.
      expect(blur()).toHaveProperty('disabled', false);
      await act(async () => blur().click());
      expect(blur().getAttribute('aria-pressed')).toBe('true');
      expect(alert.textContent).toBe('');
      expect(room.calls.filter((c) => c.startsWith('background'))).toEqual([
        'background:blur',
        'background:blur',
      ]);
    });

    it('replaces the background with the built-in picture instead of the blur, one at a time', async () => {
      const { room, send } = await renderVisit('patient');
      send({ type: 'JoinSent' }, { type: 'MediaConnected' });
      const picture = () => controls().getByRole('button', { name: /^Background picture/ });
      expect(picture().getAttribute('aria-pressed')).toBe('false');
      await act(async () => blur().click());
      await act(async () => picture().click());
      expect(picture().getAttribute('aria-pressed')).toBe('true');
      expect(blur().getAttribute('aria-pressed')).toBe('false');
      await act(async () => picture().click());
      expect(picture().getAttribute('aria-pressed')).toBe('false');
      expect(room.calls.filter((c) => c.startsWith('background'))).toEqual([
        'background:blur',
        'background:image',
        'background:null',
      ]);
    });

    it('is not offered to a receive-only participant', async () => {
      const { send } = await renderVisit('patient');
      send({ type: 'JoinSent' }, { type: 'DevicesUnavailable' });
      expect(blur()).toHaveProperty('disabled', true);
    });
  });

  describe('without camera or microphone', () => {
    it('stays in the visit receiving only, says so, and offers no mute or camera', async () => {
      const { send, feeds } = await renderVisit('patient');
      send({ type: 'JoinSent' }, { type: 'DevicesUnavailable' });
      await feeds([camera(7)]);
      expect(screen.getByRole('status').textContent).toMatch(/can see and hear the visit/);
      expect(controls().getByRole('button', { name: 'Mute' })).toHaveProperty('disabled', true);
      expect(controls().getByRole('button', { name: 'Stop camera' })).toHaveProperty('disabled', true);
      expect(document.querySelector('.tile-self')).toBeNull();
      expect(document.querySelector('.tile-main')?.textContent).toContain('Clinician');
    });
  });

  it('says "Reconnecting…" while the connection is down and clears it once back', async () => {
    const { send, feeds } = await renderVisit();
    send({ type: 'JoinSent' }, { type: 'MediaConnected' });
    await feeds([camera(7)]);
    send({ type: 'ConnectionLost' });
    expect(screen.getByRole('status').textContent).toBe('Reconnecting…');
    send({ type: 'ConnectionRestored' });
    expect(screen.getByRole('status').textContent).toBe('');
  });

  describe('when the visit ends', () => {
    it('says "This visit has ended." once, with no controls left', async () => {
      const { room, send } = await renderVisit();
      send({ type: 'JoinSent' }, { type: 'MediaConnected' }, { type: 'RoomEnded' }, { type: 'Removed' });
      expect(screen.getAllByText('This visit has ended.')).toHaveLength(1);
      expect(screen.queryByRole('toolbar')).toBeNull();
      expect(room.calls).toContain('close');
    });
  });

  it('leaves on Leave and tells the gateway', async () => {
    const { room, send, left } = await renderVisit();
    send({ type: 'JoinSent' }, { type: 'MediaConnected' });
    await act(async () => controls().getByRole('button', { name: 'Leave' }).click());
    expect(room.calls).toContain('leave');
    expect(left).toEqual(['/api/visits/v1/leave']);
    expect(screen.getByRole('status').textContent).toBe('You left the visit.');
  });

  it('initials: up to two words, letters only', () => {
    expect(initials('Maria Lopez')).toBe('ML');
    expect(initials('Dr. Amara Okafor — clinician')).toBe('AO');
    expect(initials('Maria de la Cruz — patient (second device)')).toBe('MC');
    expect(initials('Clinician’s screen')).toBe('C');
    expect(initials('You (clinician)')).toBe('Y');
  });

  describe('signals on the tiles', () => {
    const stats = (over: Partial<FeedStats> = {}): FeedStats => ({
      feed: 7,
      description: 'camera',
      framesDecoded: 10,
      bytesReceived: 1000,
      audioPacketsReceived: 100,
      audioPacketsLost: 0,
      audioBytesReceived: 1000,
      videoPacketsReceived: 100,
      videoPacketsLost: 0,
      audioLevel: 0,
      roundTripTime: 0.04,
      ...over,
    });
    const nextSample = () => act(() => new Promise((resolve) => setTimeout(resolve, 450)));

    it('rings the tile of the participant who speaks and says how good the connection to them is', async () => {
      const { room, send, feeds } = await renderVisit('patient');
      room.nextStats = [stats({ audioLevel: 0.2 })];
      send({ type: 'JoinSent' }, { type: 'MediaConnected' });
      await feeds([camera(7)]);
      await nextSample();
      const main = document.querySelector('.tile-main')!;
      expect(main.getAttribute('data-speaking')).toBe('true');
      expect(within(main as HTMLElement).getByRole('img', { name: 'Connection good' })).toBeTruthy();

      // Quiet, and a tenth of the packets lost since the last sample: no ring, poor connection.
      room.nextStats = [
        stats({
          audioLevel: 0.001,
          audioPacketsReceived: 190,
          audioPacketsLost: 10,
          videoPacketsReceived: 190,
          videoPacketsLost: 10,
        }),
      ];
      await nextSample();
      expect(main.getAttribute('data-speaking')).toBeNull();
      expect(within(main as HTMLElement).getByRole('img', { name: 'Connection poor' })).toBeTruthy();
    });

    it('reads no statistics before the visit is live', async () => {
      const { room, feeds } = await renderVisit('patient');
      let reads = 0;
      room.stats = async () => {
        reads++;
        return [];
      };
      await feeds([camera(7)]);
      await nextSample();
      expect(reads).toBe(0);
    });
  });

  describe('full screen', () => {
    it('is offered where the page may go full screen, and follows the browser', async () => {
      Object.defineProperty(document, 'fullscreenEnabled', { configurable: true, value: true });
      let fullscreenElement: Element | null = null;
      Object.defineProperty(document, 'fullscreenElement', {
        configurable: true,
        get: () => fullscreenElement,
      });
      const requested: Element[] = [];
      HTMLElement.prototype.requestFullscreen = function (this: HTMLElement) {
        requested.push(this);
        fullscreenElement = requested.at(-1) ?? null;
        document.dispatchEvent(new Event('fullscreenchange'));
        return Promise.resolve();
      };
      document.exitFullscreen = () => {
        fullscreenElement = null;
        document.dispatchEvent(new Event('fullscreenchange'));
        return Promise.resolve();
      };
      try {
        const { send } = await renderVisit('patient');
        send({ type: 'JoinSent' }, { type: 'MediaConnected' });
        // On the stage, not in the control bar (which then fits one line beside the console's side column).
        expect(controls().queryByRole('button', { name: 'Full screen' })).toBeNull();
        const button = screen.getByRole('button', { name: 'Full screen' });
        expect(button.getAttribute('aria-pressed')).toBe('false');
        act(() => button.click());
        expect(requested).toEqual([screen.getByRole('region', { name: 'Video visit' })]);
        expect(button.getAttribute('aria-pressed')).toBe('true');
        act(() => button.click());
        expect(button.getAttribute('aria-pressed')).toBe('false');
      } finally {
        Object.defineProperty(document, 'fullscreenEnabled', { configurable: true, value: false });
      }
    });

    it('is not offered where the page may not go full screen', async () => {
      const { send } = await renderVisit('patient');
      send({ type: 'JoinSent' }, { type: 'MediaConnected' });
      expect(screen.queryByRole('button', { name: 'Full screen' })).toBeNull();
    });
  });
});
