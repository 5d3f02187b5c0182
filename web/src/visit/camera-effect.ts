/**
 * The background effect on the published camera, as the visit's media room holds it (ADR 0018): what the user
 * asked for (blur on or off) outlives the camera track it runs on. When the publisher is rebuilt (a reconnection
 * that publishes again captures a new camera track), the effect moves to (or starts again on) the new track
 * before that track's picture goes out; when the effect gives up by itself (too slow, or it throws) or cannot start again, the
 * original camera is published again and the owner is told why.
 *
 * It knows nothing of Janus: the room hands in where the video goes out (its sender) and is told what changed.
 */
import {
  BACKGROUND_REASONS,
  type BackgroundEffect,
  type BackgroundFailure,
  type BackgroundKind,
  type StartBackground,
} from './background';

/** The part of an RTCRtpSender the effect uses. */
export interface VideoSender {
  replaceTrack(track: MediaStreamTrack | null): Promise<void>;
}

/** What the effect needs from the media room. */
export interface CameraEffectPorts {
  readonly startBackground: StartBackground;
  /** The sender carrying the published camera, null while there is no peer connection. */
  readonly sender: () => VideoSender | null;
  /** The self-view shows this track (what the others see). */
  readonly showLocal: (track: MediaStreamTrack) => void;
  /** The effect turned itself off while it was wanted; the camera as it is goes out again. */
  readonly stopped: (reason: string) => void;
}

/** Why the effect stopped by itself, in words (shown and announced next to the control). */
const STOP_REASONS: Readonly<Record<BackgroundFailure | 'restart', string>> = {
  slow: BACKGROUND_REASONS.tooSlow,
  error: BACKGROUND_REASONS.crashed,
  restart: BACKGROUND_REASONS.notRestarted,
};

/** The effect on the published camera; one per media room. */
export class CameraEffect {
  #wanted: BackgroundKind | null = null;
  #closed = false;
  #camera: MediaStreamTrack | null = null;
  /** The running effect and the camera track it runs on. */
  #running: {
    effect: BackgroundEffect;
    kind: BackgroundKind;
    camera: MediaStreamTrack;
    sent: boolean;
  } | null = null;
  /** Bumped on every change, so a start that finishes late knows it is stale. */
  #generation = 0;
  /** The sender carries nothing: a new camera track is held back until the effect runs on it. */
  #withheld = false;

  constructor(private readonly ports: CameraEffectPorts) {}

  /** The effect the user wants, if any (it may be restarting on a new camera track). */
  get wanted(): BackgroundKind | null {
    return this.#wanted;
  }

  /**
   * The publisher captured a camera track: the first publish, or a publisher rebuilt after a reconnection (the
   * new track already on the new sender). While the effect is wanted the new camera's picture does not go out:
   * the running effect moves to the new track and its picture goes on the new sender at once; an effect that
   * cannot move is started again on the new track, the sender carrying nothing meanwhile.
   */
  cameraChanged(track: MediaStreamTrack | null): void {
    if (track === this.#camera) return;
    this.#camera = track;
    if (!track) return; // a rebuilt publisher brings the next one
    if (!this.#wanted) {
      this.#stopRunning();
      return;
    }
    const running = this.#running;
    const moved = running?.effect.setCamera?.(track);
    if (running && moved) {
      const generation = ++this.#generation;
      running.camera = track;
      running.sent = false;
      this.published();
      moved.catch(() => {
        if (this.#running === running && generation === this.#generation) {
          ++this.#generation;
          void this.#giveUp(STOP_REASONS.restart);
        }
      });
      return;
    }
    this.#stopRunning();
    const sender = this.ports.sender();
    if (sender) {
      this.#withheld = true;
      void sender.replaceTrack(null).catch(() => undefined);
    }
    void this.#restart(track, this.#wanted);
  }

  /** The publisher's media is up: the sender carries the effect's picture if it runs and does not yet. */
  published(): void {
    const running = this.#running;
    const sender = this.ports.sender();
    if (!running || running.sent || !sender) return;
    running.sent = true;
    this.#withheld = false;
    void sender.replaceTrack(running.effect.track).catch(() => {
      running.sent = false;
    });
  }

  /**
   * Switches an effect on (the sender carries its picture; another running effect is replaced) or off (`null`:
   * the camera again). Rejects when it cannot start (no published camera, the effect does not load or run); the
   * camera as it is is published then.
   */
  async set(kind: BackgroundKind | null): Promise<void> {
    const generation = ++this.#generation;
    if (!kind) {
      await this.#off();
      return;
    }
    const running = this.#running;
    if (running?.kind === kind) {
      this.#wanted = kind;
      return;
    }
    if (running?.effect.setKind) {
      // The running effect draws the other background: no second segmenter, no gap.
      running.effect.setKind(kind);
      running.kind = kind;
      this.#wanted = kind;
      return;
    }
    try {
      await this.#start(kind, generation);
    } catch (err) {
      // Nothing half-way: a failed switch from the other effect leaves the camera as it is.
      if (generation === this.#generation) await this.#off();
      throw err;
    }
  }

  async #start(kind: BackgroundKind, generation: number): Promise<void> {
    const camera = this.#camera;
    const sender = this.ports.sender();
    if (!camera || !sender) throw new Error('no published camera');
    const effect = await this.ports.startBackground(camera, {
      kind,
      onFailure: (why) => this.#failed(effect, why),
    });
    if (this.#closed || this.#camera !== camera || generation !== this.#generation) {
      effect.stop();
      throw new Error('the camera changed');
    }
    try {
      await sender.replaceTrack(effect.track);
    } catch (err) {
      effect.stop();
      throw err;
    }
    this.#stopRunning();
    this.#wanted = kind;
    this.#running = { effect, kind, camera, sent: true };
    this.ports.showLocal(effect.track);
  }

  /** The camera as it is on the sender again, and no effect. */
  async #off(): Promise<void> {
    this.#wanted = null;
    const running = this.#running;
    if (!running && !this.#withheld) return;
    const camera = this.#camera;
    const sender = this.ports.sender();
    this.#withheld = false;
    if (camera && sender) await sender.replaceTrack(camera);
    this.#stopRunning();
    if (camera) this.ports.showLocal(camera);
  }

  /** Stops the effect for good (the room closes). */
  close(): void {
    this.#closed = true;
    this.#wanted = null;
    this.#stopRunning();
  }

  /** Starts the wanted effect again on a new camera track; gives up (camera published, owner told) if it fails. */
  async #restart(camera: MediaStreamTrack, kind: BackgroundKind): Promise<void> {
    const generation = ++this.#generation;
    let effect: BackgroundEffect;
    try {
      effect = await this.ports.startBackground(camera, {
        kind,
        onFailure: (why) => this.#failed(effect, why),
      });
    } catch {
      if (generation === this.#generation && this.#camera === camera)
        await this.#giveUp(STOP_REASONS.restart);
      return;
    }
    if (this.#closed || generation !== this.#generation || this.#camera !== camera || this.#wanted !== kind) {
      effect.stop();
      return;
    }
    this.#running = { effect, kind, camera, sent: false };
    this.ports.showLocal(effect.track);
    this.published();
  }

  /** The running effect gave up by itself. */
  #failed(effect: BackgroundEffect, why: BackgroundFailure): void {
    if (this.#running?.effect !== effect) return;
    ++this.#generation;
    void this.#giveUp(STOP_REASONS[why]);
  }

  /** The camera as it is goes out again; the owner hears why the effect is off. */
  async #giveUp(reason: string): Promise<void> {
    this.#wanted = null;
    const camera = this.#camera;
    const sender = this.ports.sender();
    this.#withheld = false;
    this.#stopRunning();
    if (this.#closed) return;
    if (camera) {
      if (sender) await sender.replaceTrack(camera).catch(() => undefined);
      this.ports.showLocal(camera);
    }
    this.ports.stopped(reason);
  }

  #stopRunning(): void {
    this.#running?.effect.stop();
    this.#running = null;
  }
}
