/**
 * Background blur, on the device only (ADR 0018): MediaPipe's selfie segmentation (the wasm, the model and the
 * loader, all served by the gateway from the npm package at /vendor/mediapipe/selfie_segmentation/, never from
 * elsewhere) finds the person in each camera frame; a canvas draws the person sharp over a blurred copy of the
 * frame, and the canvas's captureStream() track is what the visit publishes instead of the camera. No frame, mask
 * or model leaves the page: the only thing sent is the composited video, on the media path the camera used.
 */

/** Where the gateway serves @mediapipe/selfie_segmentation's files. */
export const SEGMENTATION_BASE = '/vendor/mediapipe/selfie_segmentation/';

/** Whether this device can blur its background, and if not, why (shown next to the disabled toggle). */
export type BackgroundSupport = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/** The reasons shown to the user, one place. */
export const BACKGROUND_REASONS = {
  noWasm: 'Background blur is not available: this browser cannot run WebAssembly here.',
  noWebGl: 'Background blur is not available: this browser has graphics acceleration (WebGL) turned off.',
  noCapture: 'Background blur is not available: this browser cannot publish a processed camera picture.',
  failed: 'Background effects could not start on this device.',
  tooSlow:
    'Background blur turned off: this device could not keep up. The others now see your camera as it is.',
  crashed: 'Background blur turned off: it stopped working. The others now see your camera as it is.',
  notRestarted:
    'Background blur turned off: it could not start again after the connection came back. The others now see ' +
    'your camera as it is.',
} as const;

/** The smallest valid WebAssembly module: compiling it says whether wasm runs (a CSP may refuse it). */
const EMPTY_WASM = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);

/** Checks WebAssembly (compiled, not only present: the page's CSP decides), WebGL and canvas capture. */
export function backgroundSupport(): BackgroundSupport {
  try {
    if (typeof WebAssembly !== 'object') return { ok: false, reason: BACKGROUND_REASONS.noWasm };
    new WebAssembly.Module(EMPTY_WASM);
  } catch {
    return { ok: false, reason: BACKGROUND_REASONS.noWasm };
  }
  if (typeof document === 'undefined') return { ok: false, reason: BACKGROUND_REASONS.noWebGl };
  const canvas = document.createElement('canvas');
  let gl: unknown;
  try {
    gl = canvas.getContext('webgl2') ?? canvas.getContext('webgl');
  } catch {
    gl = null;
  }
  if (!gl) return { ok: false, reason: BACKGROUND_REASONS.noWebGl };
  if (typeof canvas.captureStream !== 'function') return { ok: false, reason: BACKGROUND_REASONS.noCapture };
  return { ok: true };
}

/** A running effect: the processed track to publish, and how to stop it. */
export interface BackgroundEffect {
  readonly track: MediaStreamTrack;
  stop(): void;
  /**
   * Runs on another camera track from now on (a rebuilt publisher's new capture), with the same output track.
   * Rejects when the new camera does not play; the effect is stopped then.
   */
  setCamera?(camera: MediaStreamTrack): Promise<void>;
  /** Draws the other background from the next frame on (the same segmenter and output track). */
  setKind?(kind: BackgroundKind): void;
}

/** Why a running effect gave up by itself: it processed too few frames, or processing threw. */
export type BackgroundFailure = 'slow' | 'error';

/** The background effects: the room blurred, or replaced by the built-in picture (a plain wall). */
export type BackgroundKind = 'blur' | 'image';

/** What a running effect tells its owner. */
export interface BackgroundOptions {
  /** Which effect (default: blur). */
  readonly kind?: BackgroundKind;
  /** The effect gave up (and stopped its track); called at most once. */
  readonly onFailure: (why: BackgroundFailure) => void;
}

/** Starts the effect on a camera track; the camera track itself is left running. */
export type StartBackground = (
  camera: MediaStreamTrack,
  options: BackgroundOptions,
) => Promise<BackgroundEffect>;

/**
 * Fewer processed frames a second than this, on average over {@link SLOW_WINDOW_MS}, and the effect gives up: a
 * picture that lags seconds behind the voice. A choppy processed picture is kept (the test machine's software
 * WebGL, loaded, manages 1.7 to 4): the user chose to hide their room (ADR 0018).
 */
export const MIN_FPS = 1;
/** How long the effect may stay below {@link MIN_FPS} before it gives up, ms. */
export const SLOW_WINDOW_MS = 5_000;
/** Frames in a row whose processing threw before the effect gives up (one dropped frame is not a failure). */
export const MAX_FRAME_ERRORS = 3;

/** A frame-rate watch over a sliding window; the clock is handed in. */
export interface FrameRateWatch {
  /** A frame was processed at `now` (ms). */
  frame(now: number): void;
  /** Whether fewer than `minFps` frames a second were processed over the whole last window, at `now`. */
  tooSlow(now: number): boolean;
}

/** Watches the processed frame rate from `startedAt` (ms): never "too slow" before one whole window. */
export function frameRateWatch(
  startedAt: number,
  { minFps = MIN_FPS, windowMs = SLOW_WINDOW_MS }: { minFps?: number; windowMs?: number } = {},
): FrameRateWatch {
  const frames: number[] = [];
  return {
    frame(now) {
      frames.push(now);
    },
    tooSlow(now) {
      while (frames.length > 0 && (frames[0] ?? now) <= now - windowMs) frames.shift();
      return now - startedAt >= windowMs && frames.length < (minFps * windowMs) / 1000;
    },
  };
}

// ---------------------------------------------------------------- MediaPipe's legacy solution API, as used

interface SegmentationResults {
  readonly image: CanvasImageSource;
  readonly segmentationMask: CanvasImageSource;
}

interface SelfieSegmentation {
  setOptions(o: { modelSelection?: number; selfieMode?: boolean }): void;
  onResults(listener: (r: SegmentationResults) => void): void;
  initialize(): Promise<void>;
  send(inputs: { image: HTMLVideoElement }): Promise<void>;
  close(): Promise<void>;
}

type SelfieSegmentationClass = new (config: { locateFile: (file: string) => string }) => SelfieSegmentation;

let loader: Promise<SelfieSegmentationClass> | null = null;

/**
 * Loads the solution's script (a classic script that defines `SelfieSegmentation` on the window; a same-origin
 * script the CSP's 'self' allows) once per page. Rejects when it does not load.
 */
function loadSolution(base: string): Promise<SelfieSegmentationClass> {
  loader ??= new Promise<SelfieSegmentationClass>((resolve, reject) => {
    const script = document.createElement('script');
    script.src = `${base}selfie_segmentation.js`;
    script.async = true;
    script.addEventListener('load', () => {
      const cls = (globalThis as { SelfieSegmentation?: SelfieSegmentationClass }).SelfieSegmentation;
      if (cls) resolve(cls);
      else reject(new Error('selfie segmentation did not load'));
    });
    script.addEventListener('error', () => reject(new Error('selfie segmentation did not load')));
    document.head.appendChild(script);
  }).catch((err: unknown) => {
    loader = null;
    throw err;
  });
  return loader;
}

/**
 * Paints the built-in background picture, a plain wall in calm light (drawn here: no image file, nothing fetched):
 * a soft teal-grey from light at the top to darker at the bottom, with a faint skirting line.
 */
export function paintBuiltInBackground(ctx: CanvasRenderingContext2D, w: number, h: number): void {
  const wall = ctx.createLinearGradient(0, 0, 0, h);
  wall.addColorStop(0, '#e3ecec');
  wall.addColorStop(0.8, '#bfd2d4');
  wall.addColorStop(1, '#a9c0c2');
  ctx.fillStyle = wall;
  ctx.fillRect(0, 0, w, h);
  ctx.fillStyle = 'rgba(255, 255, 255, 0.35)';
  ctx.fillRect(0, Math.round(h * 0.8), w, Math.max(2, Math.round(h * 0.01)));
}

/** Blur radius of the background, in CSS pixels of the camera picture. */
const BLUR_PX = 14;
/** Frames per second processed and published. */
const FPS = 24;

/**
 * Starts a background blur on `camera`: the segmenter runs on each frame (one at a time, at most FPS a second)
 * and the published track is the canvas's. Rejects when the solution, its wasm or its model does not load, or
 * the first frame cannot be segmented. Once running, it stops itself and calls `onFailure` when it processes
 * fewer than MIN_FPS frames a second over SLOW_WINDOW_MS ('slow'), or MAX_FRAME_ERRORS frames in a row throw
 * ('error').
 */
export async function startBlur(
  camera: MediaStreamTrack,
  { onFailure, kind: firstKind = 'blur' }: BackgroundOptions,
  base = SEGMENTATION_BASE,
): Promise<BackgroundEffect> {
  const Solution = await loadSolution(base);
  const segmenter = new Solution({ locateFile: (file) => `${base}${file}` });
  // 1: the landscape model (144×256), lighter than the square one and made for video calls.
  segmenter.setOptions({ modelSelection: 1, selfieMode: false });

  const video = document.createElement('video');
  video.muted = true;
  video.playsInline = true;
  video.srcObject = new MediaStream([camera]);
  /** The camera track the frames come from (another one after setCamera). */
  let source = camera;
  /** What is drawn behind the person (the other one after setKind). */
  let kind = firstKind;
  const canvas = document.createElement('canvas');
  /** The built-in picture at the canvas's size, painted once per size. */
  const backdrop = document.createElement('canvas');
  backdrop.width = 0;
  const ctx = canvas.getContext('2d');
  if (!ctx) throw new Error('no 2d canvas');
  const track = canvas.captureStream(FPS).getVideoTracks()[0];
  if (!track) throw new Error('no canvas track');
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  /** The frame-rate watch's timer, once the effect runs. */
  const watching: { timer?: ReturnType<typeof setInterval> } = {};
  const stop = () => {
    if (stopped) return;
    stopped = true;
    if (timer) clearTimeout(timer);
    if (watching.timer) clearInterval(watching.timer);
    track.stop();
    video.pause();
    video.srcObject = null;
    void segmenter.close().catch(() => undefined);
  };

  segmenter.onResults(({ image, segmentationMask }) => {
    if (stopped) return;
    const w = canvas.width;
    const h = canvas.height;
    ctx.save();
    ctx.clearRect(0, 0, w, h);
    // The person: the mask, then the frame only where the mask is.
    ctx.drawImage(segmentationMask, 0, 0, w, h);
    ctx.globalCompositeOperation = 'source-in';
    ctx.drawImage(image, 0, 0, w, h);
    // The background, behind the person: the frame blurred, or the built-in picture.
    ctx.globalCompositeOperation = 'destination-over';
    if (kind === 'image') {
      if (backdrop.width !== w || backdrop.height !== h) {
        backdrop.width = w;
        backdrop.height = h;
        const bctx = backdrop.getContext('2d');
        if (bctx) paintBuiltInBackground(bctx, w, h);
      }
      ctx.drawImage(backdrop, 0, 0, w, h);
    } else {
      ctx.filter = `blur(${BLUR_PX}px)`;
      ctx.drawImage(image, 0, 0, w, h);
    }
    ctx.restore();
  });

  try {
    await video.play();
  } catch (err) {
    stop();
    throw err;
  }
  canvas.width = video.videoWidth || 640;
  canvas.height = video.videoHeight || 480;
  try {
    await segmenter.initialize();
    await segmenter.send({ image: video });
  } catch (err) {
    stop();
    throw err;
  }

  const giveUp = (why: BackgroundFailure) => {
    if (stopped) return;
    stop();
    onFailure(why);
  };
  // The watch has its own timer: a segmenter that never answers stops the ticks too. It counts only while
  // there is something to keep up with: a hidden tab's timers are slowed down by the browser, and a camera
  // track that ended (its peer connection was hung up; the owner restarts the effect on the new one) gives no
  // frames; the watch starts again then.
  let watch = frameRateWatch(performance.now());
  watching.timer = setInterval(() => {
    if (document.hidden || source.readyState === 'ended') watch = frameRateWatch(performance.now());
    else if (watch.tooSlow(performance.now())) giveUp('slow');
  }, 1000);
  let errors = 0;

  // One frame at a time; timers (not requestAnimationFrame) keep going while the tab is in the background.
  const tick = async () => {
    if (stopped) return;
    const started = performance.now();
    if (video.videoWidth && (video.videoWidth !== canvas.width || video.videoHeight !== canvas.height)) {
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
    }
    try {
      if (video.readyState >= 2) {
        await segmenter.send({ image: video });
        watch.frame(performance.now());
      }
      errors = 0;
    } catch {
      // A dropped frame: the next tick tries again; a lost WebGL context throws on every frame.
      errors += 1;
      if (errors >= MAX_FRAME_ERRORS) {
        giveUp('error');
        return;
      }
    }
    if (!stopped)
      timer = setTimeout(() => void tick(), Math.max(0, 1000 / FPS - (performance.now() - started)));
  };
  timer = setTimeout(() => void tick(), 0);
  const setCamera = async (next: MediaStreamTrack) => {
    if (stopped) throw new Error('the effect was stopped');
    source = next;
    watch = frameRateWatch(performance.now());
    video.srcObject = new MediaStream([next]);
    try {
      await video.play();
    } catch (err) {
      stop();
      throw err;
    }
  };
  const setKind = (next: BackgroundKind) => {
    kind = next;
  };
  return { track, stop, setCamera, setKind };
}
