/**
 * The patient's self-check: camera and microphone (with a level meter) from getUserMedia, and the connection
 * from the live channel's hello. Plain browser code the check step drives.
 */

/** What the check found. */
export interface CheckResult {
  readonly cameraOk: boolean;
  readonly micOk: boolean;
  /** The browser lists an audio output. */
  readonly speakerOk: boolean;
  /** The browser's answer to the camera and microphone request. */
  readonly permission: 'granted' | 'denied' | 'unavailable';
}

/** The check as the lobby route takes it (`deviceCheck`): devices and permission, no names or ids. */
export function deviceCheckBody(r: CheckResult): {
  camera: boolean;
  microphone: boolean;
  speaker: boolean;
  permission: string;
} {
  return { camera: r.cameraOk, microphone: r.micOk, speaker: r.speakerOk, permission: r.permission };
}

/** A running preview: the stream, a microphone level sampler, and how to stop both. */
export interface Preview {
  readonly stream: MediaStream | null;
  readonly result: CheckResult;
  /** Calls `onLevel` (0..1) every animation frame until stopped. */
  meter(onLevel: (level: number) => void): void;
  stop(): void;
}

/** Asks for the camera and microphone; never rejects (a refusal is `cameraOk: false, micOk: false`). */
export async function startPreview(): Promise<Preview> {
  let stream: MediaStream | null = null;
  let permission: CheckResult['permission'] = 'granted';
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
  } catch (err) {
    stream = null;
    permission = (err as { name?: unknown }).name === 'NotAllowedError' ? 'denied' : 'unavailable';
  }
  const cameraOk = (stream?.getVideoTracks().length ?? 0) > 0;
  const micOk = (stream?.getAudioTracks().length ?? 0) > 0;
  const devices = await navigator.mediaDevices.enumerateDevices().catch(() => []);
  const speakerOk = devices.some((d) => d.kind === 'audiooutput');
  let audio: AudioContext | null = null;
  return {
    stream,
    result: { cameraOk, micOk, speakerOk, permission },
    meter(onLevel) {
      if (!stream || !micOk) return;
      audio = new AudioContext();
      const analyser = audio.createAnalyser();
      analyser.fftSize = 512;
      audio.createMediaStreamSource(stream).connect(analyser);
      const samples = new Uint8Array(analyser.fftSize);
      const tick = () => {
        if (!audio) return;
        analyser.getByteTimeDomainData(samples);
        let peak = 0;
        for (const s of samples) peak = Math.max(peak, Math.abs(s - 128) / 128);
        onLevel(Math.min(1, peak * 2));
        requestAnimationFrame(tick);
      };
      tick();
    },
    stop() {
      for (const t of stream?.getTracks() ?? []) t.stop();
      stream = null;
      void audio?.close().catch(() => undefined);
      audio = null;
    },
  };
}
