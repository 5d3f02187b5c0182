/**
 * A typed adapter over the official janus.js (Debian's libjs-janus-gateway, served by the gateway at
 * /vendor/janus.js): loads it once, opens the session on the gateway's media websocket, and joins the visit's
 * videoroom as a publisher (or receive-only), a subscriber per remote feed and, on request, a screen publisher.
 * It reports what happens as visit events (./machine.ts) and remote feeds; it holds no UI state.
 *
 * The page never talks to Janus: janus.js speaks to /api/media, which leads to the session service's media proxy.
 * The proxy checks the media credential (janus.js's `token`) on every request, adds the room, PIN and display,
 * and closes the connection when the participant is removed, the visit ends or they are signed out.
 */
import { csrfToken } from '../api/client';
import type { IceServer, MediaCredentials } from '../api/types';
import { startBlur, type BackgroundKind, type StartBackground } from './background';
import { CameraEffect } from './camera-effect';
import { MESSAGES, eventForCloseCode, eventForJanusError, type VisitEvent } from './machine';
import type { FeedSample } from './signals';

// ---------------------------------------------------------------- janus.js, as much of it as we use

interface Jsep {
  readonly type: string;
  readonly sdp: string;
}
interface Track {
  readonly type: 'audio' | 'video' | 'screen' | 'data';
  readonly capture?: boolean;
  readonly recv?: boolean;
}
interface PluginMessage {
  readonly videoroom?: string;
  readonly id?: number;
  readonly error_code?: number;
  readonly error?: string;
  readonly publishers?: readonly Publisher[];
  readonly leaving?: number | 'ok';
  readonly unpublished?: number | 'ok';
  readonly kicked?: number;
}
/** A publisher in the videoroom's lists. */
export interface Publisher {
  readonly id: number;
  readonly display?: string;
  readonly dummy?: boolean;
  readonly streams?: readonly { readonly description?: string }[];
}
interface PluginHandle {
  send(o: { message: Record<string, unknown>; jsep?: Jsep; error?: (e: unknown) => void }): void;
  createOffer(o: {
    tracks: readonly Track[];
    iceRestart?: boolean;
    success: (jsep: Jsep) => void;
    error: (e: unknown) => void;
  }): void;
  createAnswer(o: {
    jsep: Jsep;
    tracks: readonly Track[];
    success: (jsep: Jsep) => void;
    error: (e: unknown) => void;
  }): void;
  handleRemoteJsep(o: { jsep: Jsep }): void;
  muteAudio(): void;
  unmuteAudio(): void;
  muteVideo(): void;
  unmuteVideo(): void;
  isAudioMuted(): boolean;
  isVideoMuted(): boolean;
  hangup(): void;
  detach(): void;
  readonly webrtcStuff?: { readonly pc?: RTCPeerConnection | null };
}
interface AttachOptions {
  plugin: 'janus.plugin.videoroom';
  success: (handle: PluginHandle) => void;
  error: (e: unknown) => void;
  onmessage: (msg: PluginMessage, jsep?: Jsep) => void;
  webrtcState?: (on: boolean) => void;
  iceState?: (state: RTCIceConnectionState) => void;
  onlocaltrack?: (track: MediaStreamTrack, on: boolean) => void;
  onremotetrack?: (track: MediaStreamTrack, mid: string, on: boolean) => void;
  oncleanup?: () => void;
}
interface JanusSession {
  attach(o: AttachOptions): void;
  destroy(o: { cleanupHandles: boolean }): void;
}
interface JanusStatic {
  new (o: {
    server: string;
    token?: string;
    iceServers: readonly IceServer[];
    success: () => void;
    error: (e: unknown) => void;
    destroyed: () => void;
  }): JanusSession;
  init(o: { debug: boolean; dependencies: unknown; callback: () => void }): void;
  useDefaultDependencies(o: { adapter: unknown }): Record<string, unknown>;
}
declare global {
  interface Window {
    Janus?: JanusStatic;
  }
}

const JANUS_JS = '/vendor/janus.js';
let loading: Promise<JanusStatic> | null = null;

/** Loads janus.js once (a classic UMD script that defines window.Janus). Rejects when it cannot load. */
function loadJanus(): Promise<JanusStatic> {
  if (window.Janus) return Promise.resolve(window.Janus);
  loading ??= new Promise<JanusStatic>((resolve, reject) => {
    const script = document.createElement('script');
    script.src = JANUS_JS;
    script.async = true;
    script.onload = () =>
      window.Janus ? resolve(window.Janus) : reject(new Error('janus.js did not define Janus'));
    script.onerror = () => {
      loading = null;
      reject(new Error('janus.js could not be loaded'));
    };
    document.head.appendChild(script);
  });
  return loading;
}

/** janus.js only reads adapter.browserDetails; this stand-in avoids shipping webrtc-adapter. */
function adapterStandIn() {
  const ua = navigator.userAgent;
  const m = /(Chrome|Chromium|Firefox|Version)\/(\d+)/.exec(ua);
  const browser = /Firefox/.test(ua)
    ? 'firefox'
    : /Safari/.test(ua) && !/Chrom/.test(ua)
      ? 'safari'
      : 'chrome';
  return { browserDetails: { browser, version: m ? Number(m[2]) : 120 } };
}

/** The media websocket URL: the server URL handed out, resolved against this page, with the CSRF token. */
function mediaSocketUrl(serverUrl: string): string {
  const url = new URL(serverUrl || '/api/media', location.href);
  if (url.protocol === 'http:' || url.protocol === 'https:') {
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  }
  url.searchParams.set('csrf', csrfToken());
  return url.toString();
}

// ---------------------------------------------------------------- the adapter

/** A remote feed: a participant's camera or their screen. */
export interface RemoteFeed {
  readonly id: number;
  readonly kind: 'camera' | 'screen';
  readonly display: string;
  readonly video: MediaStream | null;
  readonly audio: MediaStream | null;
}

/** What the adapter reports. */
export interface MediaRoomListener {
  /** A visit event (join sent, media up, refusals, removal, …). */
  event(e: VisitEvent): void;
  /** The remote feeds changed (added, removed, a track arrived). */
  feeds(feeds: readonly RemoteFeed[]): void;
  /** The local camera (null once stopped). */
  localVideo(stream: MediaStream | null): void;
  /**
   * The background effect turned itself off while it was on (too slow, it threw, or it could not start again
   * on a rebuilt publisher's camera); the camera as it is is published again. `reason` is for the user.
   */
  backgroundStopped?(reason: string): void;
}

/** The room as the visit component uses it; a test hands the component another implementation. */
export interface MediaRoom {
  /** Opens the session and joins; never rejects (failures are events). */
  join(creds: MediaCredentials): Promise<void>;
  setMic(on: boolean): void;
  setCamera(on: boolean): void;
  /** Starts or stops the screen share; resolves whether it is on. */
  setSharing(on: boolean): Promise<boolean>;
  /**
   * Blurs the published camera's background or replaces it with the built-in picture (on the device: the
   * processed track replaces the camera on the sender), or goes back to the camera (`null`). Rejects when the
   * effect cannot start (nothing published, no WebGL, the solution does not load); what was published stays.
   */
  setBackground(kind: BackgroundKind | null): Promise<void>;
  /** Sends the videoroom leave (best effort) and tears down. */
  leave(): void;
  /** Tears everything down (no event). */
  close(): void;
  /** Inbound RTP per remote feed, from getStats. */
  stats(): Promise<FeedStats[]>;
  /** The publisher's id in the room (null before the join). */
  readonly publisherId: number | null;
}

/** Inbound RTP of one remote feed (and the counters ./signals.ts reads for speaking and quality). */
export interface FeedStats extends FeedSample {
  readonly description: 'camera' | 'screen';
  readonly framesDecoded: number;
  readonly bytesReceived: number;
  readonly audioBytesReceived: number;
}

interface Remote {
  handle: PluginHandle | null;
  feed: RemoteFeed;
}

/** How long the join may take before the visit fails as unreachable, ms. */
const JOIN_TIMEOUT_MS = 20_000;
/** ICE restarts tried after the connection drops, one every RESTART_EVERY_MS, before giving up. */
const RESTART_ATTEMPTS = 24;
const RESTART_EVERY_MS = 5_000;

function describe(p: Publisher): 'camera' | 'screen' {
  return (p.streams ?? []).some((s) => s.description === 'screen') ? 'screen' : 'camera';
}

/** The janus.js implementation of {@link MediaRoom}. */
export class JanusMediaRoom implements MediaRoom {
  #janus: JanusSession | null = null;
  #publisher: PluginHandle | null = null;
  #screen: PluginHandle | null = null;
  #screenId: number | null = null;
  #remotes = new Map<number, Remote>();
  #closeCode: number | null = null;
  #closed = false;
  #live = false;
  #restartTimer: ReturnType<typeof setInterval> | null = null;
  /** A publish after the publisher's peer connection was hung up is under way. */
  #republishing = false;
  publisherId: number | null = null;
  /** The background effect on the published camera; it outlives a rebuilt publisher. */
  readonly #effect: CameraEffect;

  constructor(
    private readonly listener: MediaRoomListener,
    startBackground: StartBackground = startBlur,
  ) {
    this.#effect = new CameraEffect({
      startBackground,
      sender: () => this.#videoSender(),
      showLocal: (track) => {
        if (!this.#closed) this.listener.localVideo(new MediaStream([track]));
      },
      stopped: (reason) => {
        if (!this.#closed) this.listener.backgroundStopped?.(reason);
      },
    });
  }

  async join(creds: MediaCredentials): Promise<void> {
    let Janus: JanusStatic;
    try {
      Janus = await loadJanus();
    } catch {
      this.#fail(eventForJanusError('janus-js', MESSAGES.unreachable));
      return;
    }
    await new Promise<void>((resolve) =>
      Janus.init({
        debug: false,
        dependencies: {
          ...Janus.useDefaultDependencies({ adapter: adapterStandIn() }),
          // The same WebSocket janus.js would make, remembering why the server closed it.
          newWebSocket: (server: string, protocol: string) => {
            const ws = new WebSocket(server, protocol);
            ws.addEventListener('close', (event) => {
              this.#closeCode = event.code;
            });
            return ws;
          },
        },
        callback: resolve,
      }),
    );
    if (this.#closed) return;
    const timer = setTimeout(() => {
      if (!this.#live && !this.#closed)
        this.#fail({ type: 'Failed', code: 'timeout', message: MESSAGES.unreachable });
    }, JOIN_TIMEOUT_MS);
    await new Promise<void>((resolve) => {
      this.#janus = new Janus({
        server: mediaSocketUrl(creds.serverUrl),
        ...(creds.mediaCredential ? { token: creds.mediaCredential } : {}),
        iceServers: Array.isArray(creds.iceServers) ? creds.iceServers : [],
        success: () => {
          this.#attachPublisher();
          resolve();
        },
        error: (e) => {
          clearTimeout(timer);
          // The media proxy refuses a credential that is not (or no longer) an admission's: 403.
          if (!this.#serverClosed()) {
            this.#fail(
              /unauthorized/i.test(String(e))
                ? { type: 'Failed', code: 403, message: MESSAGES.notAdmitted }
                : eventForJanusError('session'),
            );
          }
          resolve();
        },
        destroyed: () => undefined,
      });
    });
  }

  #emit(e: VisitEvent): void {
    if (!this.#closed) this.listener.event(e);
  }

  #fail(e: VisitEvent): void {
    this.#emit(e);
    this.close();
  }

  /** When the server closed the media connection on purpose: reports why and tears down. True if it did. */
  #serverClosed(): boolean {
    const e = this.#closeCode === null ? null : eventForCloseCode(this.#closeCode);
    if (!e) return false;
    this.#fail(e);
    return true;
  }

  #feeds(): void {
    this.listener.feeds([...this.#remotes.values()].map((r) => r.feed));
  }

  #attachPublisher(): void {
    this.#janus?.attach({
      plugin: 'janus.plugin.videoroom',
      success: (handle) => {
        this.#publisher = handle;
        // The proxy adds the room, its PIN, the room token and this participant's display.
        handle.send({
          message: { request: 'join', ptype: 'publisher' },
          error: (e) => this.#fail(eventForJanusError('send', String(e))),
        });
        this.#emit({ type: 'JoinSent' });
      },
      error: () => this.#fail(eventForJanusError('attach')),
      onmessage: (msg, jsep) => this.#onPublisherMessage(msg, jsep),
      webrtcState: (on) => {
        if (on) {
          this.#live = true;
          this.#republishing = false;
          this.#effect.published();
          this.#emit({ type: 'MediaConnected' });
        } else if (!this.#closed && !this.#serverClosed()) {
          this.#connectionLost();
        }
      },
      iceState: (state) => {
        if (state === 'disconnected' || state === 'failed') this.#connectionLost();
        else if ((state === 'connected' || state === 'completed') && this.#restartTimer) this.#restored();
      },
      onlocaltrack: (track, on) => {
        if (track.kind !== 'video') return;
        // A new camera track (first publish, or a rebuilt publisher): a wanted effect starts again on it
        // before its picture goes out, and the self-view shows the effect's picture once it runs.
        this.listener.localVideo(on ? new MediaStream([track]) : null);
        this.#effect.cameraChanged(on ? track : null);
      },
      onremotetrack: () => undefined,
      oncleanup: () => undefined,
    });
  }

  #publish(): void {
    const publisher = this.#publisher;
    if (!publisher) return;
    publisher.createOffer({
      tracks: [
        { type: 'audio', capture: true, recv: false },
        { type: 'video', capture: true, recv: false },
      ],
      success: (offer) =>
        publisher.send({ message: { request: 'publish', audio: true, video: true }, jsep: offer }),
      // No camera or microphone (none, or denied): stay in the room and receive.
      error: () => {
        this.#live = true;
        this.#emit({ type: 'DevicesUnavailable' });
      },
    });
  }

  #onPublisherMessage(msg: PluginMessage, jsep?: Jsep): void {
    if (msg.error_code || msg.error) {
      this.#fail(eventForJanusError(msg.error_code ?? 'plugin', msg.error));
      return;
    }
    if (msg.videoroom === 'joined') {
      this.publisherId = msg.id ?? null;
      this.#publish();
      this.#onPublishers(msg.publishers);
    } else if (msg.videoroom === 'destroyed') {
      this.#fail({ type: 'RoomEnded' });
      return;
    } else if (msg.videoroom === 'event') {
      if (msg.publishers) this.#onPublishers(msg.publishers);
      if (msg.leaving === 'ok') {
        this.#fail({ type: 'Removed' }); // we were removed (kicked) from the room
        return;
      }
      const gone = msg.unpublished ?? msg.leaving;
      if (gone !== undefined && gone !== 'ok') this.#removeRemote(gone);
      if (msg.kicked !== undefined) this.#removeRemote(msg.kicked);
    }
    if (jsep) this.#publisher?.handleRemoteJsep({ jsep });
  }

  #onPublishers(list: readonly Publisher[] = []): void {
    for (const p of list) {
      if (p.id === this.publisherId || p.id === this.#screenId || this.#remotes.has(p.id) || p.dummy)
        continue;
      this.#subscribe(p);
    }
  }

  #subscribe(p: Publisher): void {
    const remote: Remote = {
      handle: null,
      feed: { id: p.id, kind: describe(p), display: p.display ?? '', video: null, audio: null },
    };
    this.#remotes.set(p.id, remote);
    this.#feeds();
    this.#janus?.attach({
      plugin: 'janus.plugin.videoroom',
      success: (handle) => {
        remote.handle = handle;
        if (this.#remotes.get(p.id) !== remote) {
          handle.detach();
          return;
        }
        handle.send({ message: { request: 'join', ptype: 'subscriber', streams: [{ feed: p.id }] } });
      },
      error: () => this.#removeRemote(p.id),
      onmessage: (msg, jsep) => {
        if (msg.error_code || msg.error) {
          this.#removeRemote(p.id);
          return;
        }
        const handle = remote.handle;
        if (jsep && handle) {
          handle.createAnswer({
            jsep,
            tracks: [{ type: 'data' }],
            success: (answer) => handle.send({ message: { request: 'start' }, jsep: answer }),
            error: () => this.#removeRemote(p.id),
          });
        }
      },
      onremotetrack: (track, _mid, on) => {
        if (this.#remotes.get(p.id) !== remote) return;
        const stream = on ? new MediaStream([track]) : null;
        remote.feed =
          track.kind === 'video' ? { ...remote.feed, video: stream } : { ...remote.feed, audio: stream };
        this.#feeds();
      },
      oncleanup: () => undefined,
    });
  }

  #removeRemote(id: number): void {
    const r = this.#remotes.get(id);
    if (!r) return;
    this.#remotes.delete(id);
    try {
      r.handle?.detach();
    } catch {
      /* already gone */
    }
    this.#feeds();
  }

  /** The peer connection dropped: ICE restarts on the publisher and every subscriber until it is back. */
  #connectionLost(): void {
    if (this.#closed || this.#restartTimer || !this.#live) return;
    this.#emit({ type: 'ConnectionLost' });
    let attempts = 0;
    const restart = () => {
      if (this.#closed) return;
      if (attempts >= RESTART_ATTEMPTS) {
        this.#fail({ type: 'Failed', code: 'reconnect', message: MESSAGES.unreachable });
        return;
      }
      attempts += 1;
      this.#emit({ type: 'ReconnectAttempted' });
      const publisher = this.#publisher;
      if (publisher && !publisher.webrtcStuff?.pc && !this.#republishing) {
        // Janus hung the publisher's peer connection up (ICE failed for too long): still in the room, it
        // publishes again, a new capture and a new peer connection.
        this.#republishing = true;
        this.#publish();
      } else if (publisher?.webrtcStuff?.pc) {
        publisher.createOffer({
          tracks: [],
          iceRestart: true,
          success: (offer) => publisher.send({ message: { request: 'configure' }, jsep: offer }),
          error: () => undefined,
        });
      }
      for (const r of this.#remotes.values())
        r.handle?.send({ message: { request: 'configure', restart: true } });
    };
    restart();
    this.#restartTimer = setInterval(restart, RESTART_EVERY_MS);
  }

  #restored(): void {
    if (this.#restartTimer) clearInterval(this.#restartTimer);
    this.#restartTimer = null;
    this.#republishing = false;
    this.#emit({ type: 'ConnectionRestored' });
  }

  setMic(on: boolean): void {
    const p = this.#publisher;
    if (!p) return;
    if (on) p.unmuteAudio();
    else p.muteAudio();
  }

  setCamera(on: boolean): void {
    const p = this.#publisher;
    if (!p) return;
    if (on) p.unmuteVideo();
    else p.muteVideo();
  }

  #stopShare(): void {
    const screen = this.#screen;
    this.#screen = null;
    this.#screenId = null;
    if (!screen) return;
    try {
      screen.send({ message: { request: 'leave' } });
      screen.hangup();
      screen.detach();
    } catch {
      /* gone */
    }
    this.#emit({ type: 'ShareChanged', on: false });
  }

  /** Publishes the screen as a second feed (the proxy gives it this participant's display; a kick removes it too). */
  setSharing(on: boolean): Promise<boolean> {
    if (!on || this.#screen) {
      this.#stopShare();
      return Promise.resolve(false);
    }
    return new Promise((resolve) => {
      this.#janus?.attach({
        plugin: 'janus.plugin.videoroom',
        success: (handle) => {
          this.#screen = handle;
          handle.send({ message: { request: 'join', ptype: 'publisher' } });
        },
        error: () => resolve(false),
        onmessage: (msg, jsep) => {
          const screen = this.#screen;
          if (msg.error_code || !screen) {
            this.#stopShare();
            resolve(false);
            return;
          }
          if (msg.videoroom === 'joined') {
            this.#screenId = msg.id ?? null;
            screen.createOffer({
              tracks: [{ type: 'screen', capture: true, recv: false }],
              success: (offer) => {
                const mid = /a=mid:(\S+)/.exec(offer.sdp)?.[1];
                screen.send({
                  message: {
                    request: 'publish',
                    audio: false,
                    video: true,
                    ...(mid ? { descriptions: [{ mid, description: 'screen' }] } : {}),
                  },
                  jsep: offer,
                });
              },
              error: () => {
                this.#stopShare();
                resolve(false);
              },
            });
          }
          if (jsep) screen.handleRemoteJsep({ jsep });
        },
        webrtcState: (up) => {
          if (!up) return;
          this.#emit({ type: 'ShareChanged', on: true });
          resolve(true);
        },
        onlocaltrack: (track, up) => {
          // The browser's own "Stop sharing" button ends the track.
          if (up && track.kind === 'video')
            track.addEventListener('ended', () => this.#stopShare(), { once: true });
        },
        onremotetrack: () => undefined,
      });
    });
  }

  /** The sender of the published camera's transceiver (or its processed picture), even while it carries none. */
  #videoSender(): RTCRtpSender | null {
    const pc = this.#publisher?.webrtcStuff?.pc;
    return (
      pc?.getTransceivers().find((t) => t.sender.track?.kind === 'video' || t.receiver.track.kind === 'video')
        ?.sender ?? null
    );
  }

  setBackground(kind: BackgroundKind | null): Promise<void> {
    return this.#effect.set(kind);
  }

  leave(): void {
    try {
      this.#publisher?.send({ message: { request: 'leave' } });
    } catch {
      /* gone */
    }
    this.close();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#restartTimer) clearInterval(this.#restartTimer);
    this.#effect.close();
    for (const id of [...this.#remotes.keys()]) this.#removeRemote(id);
    const screen = this.#screen;
    this.#screen = null;
    try {
      screen?.hangup();
      screen?.detach();
    } catch {
      /* gone */
    }
    try {
      this.#publisher?.hangup();
    } catch {
      /* gone */
    }
    this.#publisher = null;
    const janus = this.#janus;
    this.#janus = null;
    try {
      janus?.destroy({ cleanupHandles: true });
    } catch {
      /* gone */
    }
    this.listener.localVideo(null);
  }

  async stats(): Promise<FeedStats[]> {
    const out: FeedStats[] = [];
    for (const [feed, r] of this.#remotes) {
      const entry = {
        feed,
        description: r.feed.kind,
        framesDecoded: 0,
        bytesReceived: 0,
        audioPacketsReceived: 0,
        audioPacketsLost: 0,
        audioBytesReceived: 0,
        videoPacketsReceived: 0,
        videoPacketsLost: 0,
        audioLevel: 0,
        roundTripTime: undefined as number | undefined,
      };
      const pc = r.handle?.webrtcStuff?.pc;
      if (pc) {
        try {
          (await pc.getStats()).forEach((s: Record<string, unknown>) => {
            const n = (k: string) => (typeof s[k] === 'number' ? s[k] : 0);
            if (
              s['type'] === 'candidate-pair' &&
              s['nominated'] === true &&
              typeof s['currentRoundTripTime'] === 'number'
            ) {
              entry.roundTripTime = s['currentRoundTripTime'];
            }
            if (s['type'] !== 'inbound-rtp') return;
            if (s['kind'] === 'video') {
              entry.framesDecoded += n('framesDecoded');
              entry.bytesReceived += n('bytesReceived');
              entry.videoPacketsReceived += n('packetsReceived');
              entry.videoPacketsLost += n('packetsLost');
            } else if (s['kind'] === 'audio') {
              entry.audioPacketsReceived += n('packetsReceived');
              entry.audioPacketsLost += n('packetsLost');
              entry.audioBytesReceived += n('bytesReceived');
              entry.audioLevel = Math.max(entry.audioLevel, n('audioLevel'));
            }
          });
        } catch {
          /* the connection is closing */
        }
      }
      out.push(entry);
    }
    return out;
  }
}
