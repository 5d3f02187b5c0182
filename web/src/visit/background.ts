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
  failed: 'Background blur could not start on this device.',
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
}

/** Starts the effect on a camera track; the camera track itself is left running. */
export type StartBackground = (camera: MediaStreamTrack) => Promise<BackgroundEffect>;

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

/** Blur radius of the background, in CSS pixels of the camera picture. */
const BLUR_PX = 14;
/** Frames per second processed and published. */
const FPS = 24;

/**
 * Starts a background blur on `camera`: the segmenter runs on each frame (one at a time, at most FPS a second)
 * and the published track is the canvas's. Rejects when the solution, its wasm or its model does not load, or
 * the first frame cannot be segmented.
 */
export async function startBlur(
  camera: MediaStreamTrack,
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
  const canvas = document.createElement('canvas');
  const ctx = canvas.getContext('2d');
  if (!ctx) throw new Error('no 2d canvas');
  const track = canvas.captureStream(FPS).getVideoTracks()[0];
  if (!track) throw new Error('no canvas track');
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    if (timer) clearTimeout(timer);
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
    // The background: the frame blurred, behind the person.
    ctx.globalCompositeOperation = 'destination-over';
    ctx.filter = `blur(${BLUR_PX}px)`;
    ctx.drawImage(image, 0, 0, w, h);
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

  // One frame at a time; timers (not requestAnimationFrame) keep going while the tab is in the background.
  const tick = async () => {
    if (stopped) return;
    const started = performance.now();
    if (video.videoWidth && (video.videoWidth !== canvas.width || video.videoHeight !== canvas.height)) {
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
    }
    try {
      if (video.readyState >= 2) await segmenter.send({ image: video });
    } catch {
      // A lost WebGL context or a dropped frame: the next tick tries again.
    }
    if (!stopped)
      timer = setTimeout(() => void tick(), Math.max(0, 1000 / FPS - (performance.now() - started)));
  };
  timer = setTimeout(() => void tick(), 0);
  return { track, stop };
}
