/**
 * One handle on the visit screen for the pages and the browser suites, `window.HavenVisit` (the staff app and
 * the patient's page render VisitScreen themselves and keep `state` current with track(); the media, idle and
 * attack suites start a visit in a container of their own on the staff page with start()):
 *
 *   await window.HavenVisit.start(container, { mediaUrl, leaveUrl, role, onFinished })
 *   window.HavenVisit.state      status, errorCode, message, publisherId, remoteFeeds, sharing
 *   window.HavenVisit.stats()    inbound RTP per remote feed, from getStats
 *   window.HavenVisit.inConversation()   media from someone else arrived since the last call (keeps staff signed in)
 *   window.HavenVisit.clear()    takes a finished visit off the page
 *   window.HavenVisit.recordingMessage(m)   hands a live `recording` message to the visit screen
 *
 * `state.status` keeps the words the suites have always read: loading, joining, live, reconnecting, error,
 * kicked, ended, left.
 */
import { createRoot, type Root } from 'react-dom/client';
import type { RecordingEndpoints } from '../recording/recording-api';
import { publishRecordingMessage } from '../recording/recording-bus';
import type { FeedStats } from './janus';
import { inRoom, isFinished, type VisitState } from './machine';
import type { ChatTarget } from '../chat/use-chat';
import type { Visit, VisitOptions } from './use-visit';
import { VisitScreen } from './visit-screen';
import './visit.css';

/** What the page passes to start(). */
export interface StartOptions extends VisitOptions {
  /** Called once when the visit is over (the user left, was removed, it ended or failed), with the status. */
  readonly onFinished?: (status: string) => void;
  /**
   * The visit's chat: by default the patient's own, or for a clinician the visit of `mediaUrl`
   * (`/api/visits/{id}/media`); `false` for none.
   */
  readonly chat?: ChatTarget | false;
  /** The visit's recording routes (Record button, consent dialog, indicator). */
  readonly recording?: RecordingEndpoints;
}

/** The chat of a started visit (see StartOptions.chat). */
export function chatTargetOf(options: StartOptions): ChatTarget | undefined {
  if (options.chat === false) return undefined;
  if (options.chat) return options.chat;
  if (options.role === 'patient') return { as: 'patient' };
  const visitId = /^\/api\/visits\/([A-Za-z0-9_-]{1,64})\/media$/.exec(options.mediaUrl)?.[1];
  return visitId ? { visitId } : undefined;
}

const LEGACY_STATUS: Readonly<Record<VisitState['status'], string>> = {
  idle: 'idle',
  connecting: 'loading',
  joining: 'joining',
  live: 'live',
  reconnecting: 'reconnecting',
  failed: 'error',
  removed: 'kicked',
  ended: 'ended',
  left: 'left',
};

/** The state as the pages and the suites read it. */
export interface HavenVisitState {
  status: string;
  role: 'clinician' | 'patient' | null;
  errorCode: number | string | null;
  message: string | null;
  publisherId: number | null;
  remoteFeeds: number;
  sharing: boolean;
  receiveOnly: boolean;
  micOn: boolean;
  cameraOn: boolean;
}

/** window.HavenVisit */
export interface HavenVisit {
  start(container: Element, options: StartOptions): Promise<void>;
  readonly state: HavenVisitState;
  stats(): Promise<{
    status: string;
    feeds: FeedStats[];
    totals: {
      framesDecoded: number;
      videoBytesReceived: number;
      audioPacketsReceived: number;
      audioBytesReceived: number;
    };
  }>;
  inConversation(): Promise<boolean>;
  leave(): Promise<void>;
  /** Takes the finished visit off the page (the page says the outcome itself); `state` keeps the last one. */
  clear(): void;
  /** For a React page that renders VisitScreen itself: a new run whose onState keeps `state` up to date. */
  track(options: StartOptions): (s: VisitState, visit: Visit) => void;
  toggleMic(): void;
  toggleCamera(): void;
  toggleShare(): void;
  /** A live-channel message for the visit screen (the `recording` ones: asked, on, off). */
  recordingMessage(message: unknown): void;
}

declare global {
  interface Window {
    HavenVisit?: HavenVisit;
  }
}

const isFinishedStatus = (status: string) => ['error', 'kicked', 'ended', 'left'].includes(status);

function createHavenVisit(): HavenVisit {
  const state: HavenVisitState = {
    status: 'idle',
    role: null,
    errorCode: null,
    message: null,
    publisherId: null,
    remoteFeeds: 0,
    sharing: false,
    receiveOnly: false,
    micOn: true,
    cameraOn: true,
  };
  let root: Root | null = null;
  let host: Element | null = null;
  let current: Visit | null = null;
  let runs = 0;
  /** feed id → inbound RTP bytes at the previous inConversation() */
  const heard = new Map<number, number>();

  /** A new run: resets the state and returns the VisitScreen's onState that keeps it up to date. */
  function track(options: StartOptions, started?: () => void) {
    runs += 1;
    const run = runs;
    let finished = false;
    heard.clear();
    Object.assign(state, {
      status: 'loading',
      role: options.role === 'patient' ? 'patient' : 'clinician',
      errorCode: null,
      message: null,
      publisherId: null,
      remoteFeeds: 0,
      sharing: false,
    });
    return (s: VisitState, visit: Visit) => {
      if (run !== runs) return;
      current = visit;
      Object.assign(state, {
        status: LEGACY_STATUS[s.status],
        publisherId: visit.room?.publisherId ?? null,
        remoteFeeds: visit.feeds.length,
        ...(isFinished(s) ? { errorCode: s.code, message: s.message } : {}),
        ...(inRoom(s)
          ? {
              sharing: s.media.sharing,
              receiveOnly: s.media.receiveOnly,
              micOn: s.media.micOn,
              cameraOn: s.media.cameraOn,
            }
          : { sharing: false }),
      });
      if (s.status !== 'idle' && s.status !== 'connecting') started?.();
      if (isFinished(s) && !finished) {
        finished = true;
        options.onFinished?.(LEGACY_STATUS[s.status]);
      }
    };
  }

  async function stats() {
    const feeds = (await current?.room?.stats()) ?? [];
    const totals = {
      framesDecoded: 0,
      videoBytesReceived: 0,
      audioPacketsReceived: 0,
      audioBytesReceived: 0,
    };
    for (const f of feeds) {
      totals.framesDecoded += f.framesDecoded;
      totals.videoBytesReceived += f.bytesReceived;
      totals.audioPacketsReceived += f.audioPacketsReceived;
      totals.audioBytesReceived += f.audioBytesReceived;
    }
    return { status: state.status, feeds, totals };
  }

  return {
    state,
    stats,
    track,
    start(container, options) {
      if (host !== container) {
        root?.unmount();
        root = createRoot(container);
        host = container;
      }
      return new Promise<void>((resolve) => {
        const onState = track(options, resolve);
        root?.render(
          <VisitScreen
            key={runs}
            mediaUrl={options.mediaUrl}
            leaveUrl={options.leaveUrl}
            role={options.role === 'patient' ? 'patient' : 'clinician'}
            onState={onState}
            {...(chatTargetOf(options) ? { chat: chatTargetOf(options) } : {})}
            {...(options.recording ? { recording: options.recording } : {})}
          />,
        );
      });
    },
    async inConversation() {
      if (state.status !== 'live') {
        heard.clear();
        return false;
      }
      const feeds = await stats()
        .then((s) => s.feeds)
        .catch(() => []);
      const present = new Set(feeds.map((f) => f.feed));
      for (const feed of [...heard.keys()]) if (!present.has(feed)) heard.delete(feed);
      let flowing = false;
      for (const f of feeds) {
        const bytes = f.bytesReceived + f.audioBytesReceived;
        const before = heard.get(f.feed);
        heard.set(f.feed, bytes);
        if (before !== undefined && bytes > before) flowing = true;
      }
      return flowing;
    },
    async leave() {
      await current?.leave();
    },
    clear() {
      if (!isFinishedStatus(state.status)) return;
      runs += 1;
      root?.render(null);
    },
    toggleMic: () => current?.toggleMic(),
    toggleCamera: () => current?.toggleCamera(),
    toggleShare: () => current?.toggleShare(),
    recordingMessage: publishRecordingMessage,
  };
}

/** The page's one handle, also on window for the pages not ported yet and for the browser suites. */
export const havenVisit: HavenVisit = createHavenVisit();
window.HavenVisit = havenVisit;
