/**
 * The visit as a hook: the state machine (./machine.ts) in a reducer, the media room (./janus.ts) as the source
 * of its events, and the controls as functions. One visit per mounted component; unmounting tears it down.
 */
import { useCallback, useEffect, useMemo, useReducer, useRef, useState } from 'react';
import { ApiError, api } from '../api/client';
import type { MediaCredentials } from '../api/types';
import {
  BACKGROUND_REASONS,
  backgroundSupport,
  type BackgroundKind,
  type BackgroundSupport,
} from './background';
import { JanusMediaRoom, type MediaRoom, type MediaRoomListener, type RemoteFeed } from './janus';
import {
  MESSAGES,
  eventForApiError,
  inRoom,
  initialVisitState,
  isFinished,
  transition,
  type VisitState,
} from './machine';
import { defaultRosterUrl, participantOfDisplay, rosterOf, type Roster, type VisitRead } from './roster';

/** Who is in the visit on this page, and where its media credential and leave endpoints are. */
export interface VisitOptions {
  readonly mediaUrl: string;
  readonly leaveUrl: string;
  readonly role: 'clinician' | 'patient';
  /** The visit read that says who each participant is (default: the page's own visit read). */
  readonly rosterUrl?: string;
}

/** What the hook needs from outside; tests hand in a fake room and credentials. */
export interface VisitDependencies {
  readonly createRoom: (listener: MediaRoomListener) => MediaRoom;
  readonly fetchCredentials: (mediaUrl: string) => Promise<MediaCredentials>;
  readonly notifyLeft: (leaveUrl: string) => Promise<void>;
  /** Reads the visit: its participants' roles and devices, for the tiles' labels. */
  readonly fetchRoster: (rosterUrl: string) => Promise<VisitRead>;
  /** Whether this device can blur its background (WebAssembly allowed by the CSP, WebGL, canvas capture). */
  readonly backgroundSupport: () => BackgroundSupport;
}

const defaults: VisitDependencies = {
  createRoom: (listener) => new JanusMediaRoom(listener),
  fetchCredentials: (url) => api<MediaCredentials>('POST', url, {}),
  notifyLeft: async (url) => {
    await api('POST', url, {}).catch(() => undefined);
  },
  fetchRoster: (url) => api<VisitRead>('GET', url),
  backgroundSupport,
};

/** The background effect's state: off by default, and why it cannot be used when it cannot. */
export interface BackgroundState {
  /** The effect on: the background blurred or replaced by the built-in picture; null for the camera as it is. */
  readonly effect: BackgroundKind | null;
  /** Starting or stopping. */
  readonly busy: boolean;
  /** Why the toggle is disabled (no WebGL, no wasm, failed to start); null when it can be used. */
  readonly unavailable: string | null;
  /**
   * Why the effect turned itself off while it was on (too slow, it stopped working, it could not start again
   * after a reconnection), shown and announced until the user switches it again; null otherwise.
   */
  readonly stoppedBecause: string | null;
}

const NO_ROSTER: Roster = new Map();

const NO_FEEDS: readonly RemoteFeed[] = [];

/** The visit's state, feeds and controls. */
export interface Visit {
  readonly state: VisitState;
  readonly feeds: readonly RemoteFeed[];
  /** Who the remote feeds' participants are (role, device), as far as the page knows yet. */
  readonly roster: Roster;
  readonly localVideo: MediaStream | null;
  readonly room: MediaRoom | null;
  readonly toggleMic: () => void;
  readonly toggleCamera: () => void;
  readonly toggleShare: () => void;
  /** Background blur or the built-in picture, processed on this device only; off until switched on. */
  readonly background: BackgroundState;
  /** Switches that effect on (replacing the other) or, when it is on, off. */
  readonly toggleBackground: (kind: BackgroundKind) => void;
  /** Leaves the room and tells the gateway; resolves once it answered. */
  readonly leave: () => Promise<void>;
}

/** Runs one visit from mount to unmount. */
export function useVisit(options: VisitOptions, deps: Partial<VisitDependencies> = {}): Visit {
  const [state, dispatch] = useReducer(transition, initialVisitState);
  const [feeds, setFeeds] = useState<readonly RemoteFeed[]>([]);
  const [localVideo, setLocalVideo] = useState<MediaStream | null>(null);
  const [room, setRoom] = useState<MediaRoom | null>(null);
  const [roster, setRoster] = useState<Roster>(NO_ROSTER);
  const {
    createRoom,
    fetchCredentials,
    notifyLeft,
    fetchRoster,
    backgroundSupport: support,
  } = {
    ...defaults,
    ...deps,
  };
  const [background, setBackground] = useState<BackgroundState>(() => {
    const s = support();
    return { effect: null, busy: false, unavailable: s.ok ? null : s.reason, stoppedBecause: null };
  });
  // The dependencies are read once, when the visit starts.
  const start = useRef({ createRoom, fetchCredentials, options });

  useEffect(() => {
    const { createRoom: create, fetchCredentials: credentials, options: o } = start.current;
    let cancelled = false;
    const r = create({
      event: (e) => {
        if (!cancelled) dispatch(e);
      },
      feeds: (f) => {
        if (!cancelled) setFeeds(f);
      },
      localVideo: (s) => {
        if (!cancelled) setLocalVideo(s);
      },
      backgroundStopped: (reason) => {
        if (!cancelled)
          setBackground({ effect: null, busy: false, unavailable: null, stoppedBecause: reason });
      },
    });
    setRoom(r);
    dispatch({ type: 'ConnectRequested' });
    void (async () => {
      let creds: MediaCredentials;
      try {
        creds = await credentials(o.mediaUrl);
      } catch (err) {
        if (cancelled) return;
        dispatch(
          err instanceof ApiError
            ? eventForApiError(err.status, err.message)
            : { type: 'Failed', code: 'api', message: MESSAGES.generic },
        );
        r.close();
        return;
      }
      if (!cancelled) await r.join(creds);
    })();
    return () => {
      cancelled = true;
      r.close();
    };
  }, []);

  // A feed of a participant the page does not know yet: read the visit again, one read at a time, and again
  // every 2 s while one is still unknown.
  const rosterUrl = options.rosterUrl ?? defaultRosterUrl(options.role, options.mediaUrl);
  const [rosterReads, setRosterReads] = useState(0);
  const unknown = feeds.some((f) => !roster.has(participantOfDisplay(f.display)));
  useEffect(() => {
    if (!unknown) return;
    let live = true;
    let retry: ReturnType<typeof setTimeout> | undefined;
    fetchRoster(rosterUrl)
      .then((body) => {
        if (live) setRoster(rosterOf(body));
      })
      .catch(() => undefined)
      .finally(() => {
        if (live) retry = setTimeout(() => setRosterReads((n) => n + 1), 2_000);
      });
    return () => {
      live = false;
      if (retry) clearTimeout(retry);
    };
    // Read once per unknown stretch and per retry tick, not on every render's new fetchRoster.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [unknown, rosterReads, rosterUrl]);

  // Media stops as soon as the visit is over, whatever ended it.
  const finished = isFinished(state);
  useEffect(() => {
    if (finished) room?.close();
  }, [finished, room]);

  const toggleMic = useCallback(() => {
    if (state.status !== 'live' || state.media.receiveOnly) return;
    room?.setMic(!state.media.micOn);
    dispatch({ type: 'MicToggled', on: !state.media.micOn });
  }, [state, room]);

  const toggleCamera = useCallback(() => {
    if (state.status !== 'live' || state.media.receiveOnly) return;
    room?.setCamera(!state.media.cameraOn);
    dispatch({ type: 'CameraToggled', on: !state.media.cameraOn });
  }, [state, room]);

  const toggleShare = useCallback(() => {
    if (state.status !== 'live' || !room) return;
    void room.setSharing(!state.media.sharing);
  }, [state, room]);

  const toggleBackground = useCallback(
    (kind: BackgroundKind) => {
      if (state.status !== 'live' || !room || background.busy || background.unavailable) return;
      const next = background.effect === kind ? null : kind;
      setBackground({ ...background, busy: true, stoppedBecause: null });
      room.setBackground(next).then(
        () => setBackground({ effect: next, busy: false, unavailable: null, stoppedBecause: null }),
        () =>
          setBackground({
            effect: null,
            busy: false,
            unavailable: next ? BACKGROUND_REASONS.failed : null,
            stoppedBecause: null,
          }),
      );
    },
    [state, room, background],
  );

  const leaveUrl = options.leaveUrl;
  const leave = useCallback(async () => {
    if (finished || state.status === 'idle') return;
    room?.leave();
    dispatch({ type: 'LeftVisit' });
    await notifyLeft(leaveUrl);
  }, [finished, state, room, notifyLeft, leaveUrl]);

  // Feeds outlive a teardown only until the room reports them gone: a finished visit shows none.
  const shown = inRoom(state) ? feeds : NO_FEEDS;
  return useMemo(
    () => ({
      state,
      feeds: shown,
      roster,
      localVideo,
      room,
      toggleMic,
      toggleCamera,
      toggleShare,
      background,
      toggleBackground,
      leave,
    }),
    [
      state,
      shown,
      roster,
      localVideo,
      room,
      toggleMic,
      toggleCamera,
      toggleShare,
      background,
      toggleBackground,
      leave,
    ],
  );
}
