/**
 * The visit screen: the remote participant large, the self-view small (movable), a screen share as the main stage
 * with faces in a strip, camera-off tiles with initials, one message line, and a control bar (mute, camera,
 * share, leave) whose buttons keep their names and say their state with aria-pressed (WAI-ARIA's toggle button). Works from 375 px up and by keyboard alone.
 */
import { useEffect, useId, useRef, useState, type ReactNode } from 'react';
import { ChatButton, ChatPanel } from '../chat/chat-panel';
import { useChat, type ChatTarget, type OpenChannel } from '../chat/use-chat';
import type { RecordingEndpoints } from '../recording/recording-api';
import { RecordingControls } from '../recording/recording-controls';
import { ControlIcon } from './control-icon';
import { MESSAGES, inRoom, isFinished, type VisitState } from './machine';
import { NAME_ROLE_SEPARATOR, feedLabel, type Names } from './roster';
import { QUALITY_WORDS, type FeedSignal } from './signals';
import { useFeedSignals } from './use-feed-signals';
import { useVisit, type Visit, type VisitDependencies, type VisitOptions } from './use-visit';

/** Props of {@link VisitScreen}. */
export interface VisitScreenProps extends VisitOptions {
  /** Told every state, for the page around the visit (and the test probe). */
  readonly onState?: (state: VisitState, visit: Visit) => void;
  readonly deps?: Partial<VisitDependencies>;
  /** The visit's chat (a "Chat" button and panel while in the room); none without. */
  readonly chat?: ChatTarget | undefined;
  /** Opens the chat's live channel (tests hand in a fake). */
  readonly chatChannel?: OpenChannel;
  /** The visit's recording routes: Record button (clinician), consent dialog and indicator (everyone). */
  readonly recording?: RecordingEndpoints;
  /** Names the page already holds (the clinician's console: the patient's), for the tiles. */
  readonly names?: Names;
}

/**
 * Initials of a label: "Clinician" → "C", "Maria Lopez" → "ML", "Dr. Amara Okafor — clinician" → "AO" (the
 * name only, titles ending in a dot left out, first and last word).
 */
export function initials(label: string): string {
  const words = (label.split(NAME_ROLE_SEPARATOR)[0] ?? '')
    .replace(/[’']s\b.*$/, '')
    .split(/\s+/)
    .filter((w) => /^\p{L}/u.test(w) && !w.endsWith('.'));
  const picked = words.length > 2 ? [words[0], words[words.length - 1]] : words;
  return picked.map((w) => w?.[0]?.toUpperCase() ?? '').join('');
}

/** A <video> or <audio> element playing a stream. */
function Media({ stream, kind, label }: { stream: MediaStream; kind: 'video' | 'audio'; label?: string }) {
  const ref = useRef<HTMLVideoElement & HTMLAudioElement>(null);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    el.srcObject = stream;
    el.play?.()?.catch(() => undefined);
  }, [stream]);
  if (kind === 'audio') return <audio ref={ref} autoPlay />;
  return <video ref={ref} className="tile-video" autoPlay playsInline muted aria-label={label} />;
}

/** Three bars, as many lit as the quality is good, with the words for a screen reader. */
function QualityBars({ signal }: { signal: FeedSignal }) {
  return (
    <span
      className={`tile-quality tile-quality-${signal.quality}`}
      role="img"
      aria-label={QUALITY_WORDS[signal.quality]}
    >
      <i />
      <i />
      <i />
    </span>
  );
}

/** One participant's tile: video, or their initials when there is none; a ring while they speak. */
function Tile({
  label,
  video,
  audio,
  screen = false,
  className = '',
  signal,
  children,
}: {
  label: string;
  video: MediaStream | null;
  audio?: MediaStream | null;
  screen?: boolean;
  className?: string;
  signal?: FeedSignal | undefined;
  children?: ReactNode;
}) {
  return (
    <figure
      className={`tile${screen ? ' tile-screen' : ''}${signal?.speaking ? ' tile-speaking' : ''} ${className}`}
      data-speaking={signal?.speaking ? 'true' : undefined}
    >
      {video ? (
        <Media stream={video} kind="video" label={label} />
      ) : (
        <div className="tile-initials" aria-hidden="true">
          {initials(label)}
        </div>
      )}
      {audio ? <Media stream={audio} kind="audio" /> : null}
      <figcaption className="tile-label">
        {label}
        {video ? null : <span className="visually-hidden"> (camera off)</span>}
      </figcaption>
      {signal ? <QualityBars signal={signal} /> : null}
      {children}
    </figure>
  );
}

const CORNERS = ['bottom-right', 'bottom-left', 'top-left', 'top-right'] as const;

/** The background effects' buttons in the control bar. */
const BACKGROUND_CONTROLS = [
  { kind: 'blur', label: 'Blur background', word: 'Blur', icon: 'blur' },
  { kind: 'image', label: 'Background picture', word: 'Background', icon: 'picture' },
] as const;

/**
 * The visit in full screen (the Fullscreen API on the visit's section): whether it is, and a toggle that follows
 * Esc and the browser's own controls. Not offered where the page may not go full screen (an iframe without
 * allowfullscreen, iOS Safari on a phone).
 */
function useFullScreen(): {
  attach: (el: HTMLElement | null) => void;
  available: boolean;
  on: boolean;
  toggle: () => void;
} {
  const [element, setElement] = useState<HTMLElement | null>(null);
  const [on, setOn] = useState(false);
  useEffect(() => {
    const follow = () => setOn(element !== null && document.fullscreenElement === element);
    document.addEventListener('fullscreenchange', follow);
    return () => document.removeEventListener('fullscreenchange', follow);
  }, [element]);
  const available = typeof document !== 'undefined' && document.fullscreenEnabled === true;
  const toggle = () => {
    if (!element) return;
    if (document.fullscreenElement === element) void document.exitFullscreen().catch(() => undefined);
    else void element.requestFullscreen().catch(() => undefined);
  };
  return { attach: setElement, available, on, toggle };
}

/** The message line: how the visit is going, in words (one line, said once). */
function messageOf(state: VisitState, role: VisitOptions['role'], feeds: number): string | null {
  if (isFinished(state)) return state.message;
  if (state.status === 'connecting' || state.status === 'joining') return MESSAGES.connecting;
  if (state.status === 'reconnecting') return MESSAGES.reconnecting;
  if (state.status === 'live' && state.media.receiveOnly) return MESSAGES.receiveOnly;
  if (state.status === 'live' && feeds === 0)
    return role === 'patient' ? 'Waiting for your clinician’s video…' : 'Waiting for the patient’s video…';
  return null;
}

/** The visit: runs it (useVisit) and shows it. */
export function VisitScreen({
  onState,
  deps,
  chat: chatTarget,
  chatChannel,
  recording,
  names,
  ...options
}: VisitScreenProps) {
  const visit = useVisit(options, deps);
  const chatPanelId = useId();
  const blurReasonId = useId();
  const chat = useChat(inRoom(visit.state) ? chatTarget : undefined, chatChannel);
  const { state, feeds, roster, localVideo } = visit;
  const signals = useFeedSignals(visit.room, state.status === 'live');
  const { attach, ...fullScreen } = useFullScreen();
  const [corner, setCorner] = useState(0);
  const onStateRef = useRef(onState);
  useEffect(() => {
    onStateRef.current = onState;
  }, [onState]);
  useEffect(() => {
    onStateRef.current?.(state, visit);
  }, [state, visit]);

  const screen = feeds.find((f) => f.kind === 'screen') ?? null;
  const cameras = feeds.filter((f) => f.kind === 'camera');
  const main = screen ?? cameras[0] ?? null;
  const strip = screen ? cameras : cameras.slice(1);
  const message = messageOf(state, options.role, feeds.length);
  const media = inRoom(state) ? state.media : null;
  const live = state.status === 'live';
  const failed = isFinished(state) && state.status !== 'left';
  const selfLabel = 'You';

  return (
    <section className="visit" aria-label="Video visit" data-status={state.status} ref={attach}>
      {message ? (
        <p className={`visit-message${failed ? ' visit-message-bad' : ''}`} role="status">
          {message}
        </p>
      ) : (
        <p className="visually-hidden" role="status" />
      )}
      {recording && inRoom(state) ? (
        <RecordingControls role={options.role} endpoints={recording} live={live} />
      ) : null}
      {inRoom(state) ? (
        <div
          className={`visit-stage${screen ? ' visit-stage-share' : ''}${strip.length > 0 ? ' visit-stage-strip' : ''}`}
        >
          <div className="visit-main">
            {main ? (
              <Tile
                label={feedLabel(roster, main, names)}
                video={main.video}
                audio={main.audio}
                screen={main.kind === 'screen'}
                className="tile-main"
                signal={signals.get(main.id)}
              />
            ) : (
              <div className="tile tile-main tile-empty" aria-hidden="true" />
            )}
            {fullScreen.available ? (
              // On the stage, as in other video apps: the control bar then fits one line beside a side column.
              <button
                type="button"
                className="overlay-button stage-fullscreen"
                aria-label="Full screen"
                title="Full screen"
                aria-pressed={fullScreen.on}
                onClick={fullScreen.toggle}
              >
                <ControlIcon name="fullscreen" />
              </button>
            ) : null}
          </div>
          {strip.length > 0 ? (
            <ul className="visit-strip" aria-label="Others in the visit">
              {strip.map((f) => (
                <li key={f.id}>
                  <Tile
                    label={feedLabel(roster, f, names)}
                    video={f.video}
                    audio={f.audio}
                    signal={signals.get(f.id)}
                  />
                </li>
              ))}
            </ul>
          ) : null}
          {media && !media.receiveOnly ? (
            <Tile
              label={selfLabel}
              video={media.cameraOn ? localVideo : null}
              className={`tile-self tile-self-${CORNERS[corner]}`}
            >
              <button
                type="button"
                className="overlay-button tile-move"
                aria-label="Move your self-view to another corner"
                onClick={() => setCorner((c) => (c + 1) % CORNERS.length)}
              >
                ⤡
              </button>
            </Tile>
          ) : null}
        </div>
      ) : null}
      {inRoom(state) ? (
        <div className="visit-controls" role="toolbar" aria-label="Visit controls">
          <button
            type="button"
            className="control"
            aria-pressed={media ? !media.micOn : false}
            disabled={!live || !!media?.receiveOnly}
            onClick={visit.toggleMic}
          >
            <ControlIcon name="mic" />
            <span>Mute</span>
          </button>
          <button
            type="button"
            className="control"
            aria-pressed={media ? !media.cameraOn : false}
            disabled={!live || !!media?.receiveOnly}
            onClick={visit.toggleCamera}
          >
            <ControlIcon name="camera" />
            <span>Stop camera</span>
          </button>
          <button
            type="button"
            className="control"
            aria-pressed={media?.sharing ?? false}
            disabled={!live}
            onClick={visit.toggleShare}
          >
            <ControlIcon name="share" />
            <span>Share screen</span>
          </button>
          {BACKGROUND_CONTROLS.map(({ kind, label, word, icon }) => (
            // One word under the icon keeps the bar on one line; the full name (which starts with the word) is
            // what a screen reader and a voice command use.
            <button
              key={kind}
              type="button"
              className="control"
              aria-label={label}
              aria-pressed={visit.background.effect === kind}
              disabled={
                !live || !!media?.receiveOnly || visit.background.busy || !!visit.background.unavailable
              }
              aria-describedby={visit.background.unavailable ? blurReasonId : undefined}
              title={visit.background.unavailable ?? undefined}
              onClick={() => visit.toggleBackground(kind)}
            >
              <ControlIcon name={icon} />
              <span>{word}</span>
            </button>
          ))}
          {visit.background.unavailable ? (
            <span id={blurReasonId} className="visually-hidden">
              {visit.background.unavailable}
            </span>
          ) : null}
          {chatTarget ? <ChatButton chat={chat} panelId={chatPanelId} /> : null}
          <button type="button" className="control control-leave" onClick={() => void visit.leave()}>
            <ControlIcon name="leave" />
            <span>Leave</span>
          </button>
        </div>
      ) : null}
      {inRoom(state) ? (
        // Always in the page while in the visit, so that a screen reader announces a reason when it appears; an
        // alert: the others now see the background the user chose to hide.
        <p className="visit-notice" role="alert">
          {visit.background.stoppedBecause ?? ''}
        </p>
      ) : null}
      {inRoom(state) && chatTarget ? <ChatPanel chat={chat} id={chatPanelId} /> : null}
    </section>
  );
}
