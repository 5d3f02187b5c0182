import {
  BACKGROUND_REASONS,
  type BackgroundEffect,
  type BackgroundFailure,
  type BackgroundOptions,
  frameRateWatch,
} from './background';
import { CameraEffect, type VideoSender } from './camera-effect';

/** A stand-in track: only its identity matters to the effect. */
const track = (id: string) => ({ id, kind: 'video' }) as unknown as MediaStreamTrack;

/** What the sender carries, in order (the id of each track handed to replaceTrack, or null). */
class FakeSender implements VideoSender {
  readonly carried: (string | null)[] = [];
  async replaceTrack(t: MediaStreamTrack | null): Promise<void> {
    this.carried.push(t ? t.id : null);
  }
}

/**
 * A fake effect source: each start makes an effect whose track is `<kind>(<camera>)`, records it and can be told to
 * fail later; `movable` effects can move to another camera (`setCamera`), which rejects when `failMove` says so.
 */
function effects(opts: Options = {}) {
  const started: {
    camera: string;
    moved: string[];
    kinds: string[];
    stopped: boolean;
    fail: (why: BackgroundFailure) => void;
  }[] = [];
  const start = async (
    camera: MediaStreamTrack,
    { onFailure, kind = 'blur' }: BackgroundOptions,
  ): Promise<BackgroundEffect> => {
    if (opts.failStart?.(camera)) throw new Error('no WebGL context');
    const entry = {
      camera: camera.id,
      moved: [] as string[],
      kinds: [] as string[],
      stopped: false,
      fail: onFailure,
    };
    started.push(entry);
    const effect: BackgroundEffect = {
      track: track(`${kind}(${camera.id})`),
      stop: () => {
        entry.stopped = true;
      },
    };
    if (!opts.movable) return effect;
    return {
      ...effect,
      setKind: (next) => {
        entry.kinds.push(next);
      },
      setCamera: async (next) => {
        if (opts.failMove) {
          entry.stopped = true;
          throw new Error('the new camera does not play');
        }
        entry.moved.push(next.id);
      },
    };
  };
  return { start, started };
}

interface Options {
  readonly failStart?: (camera: MediaStreamTrack) => boolean;
  readonly movable?: boolean;
  readonly failMove?: boolean;
}

function setup(opts: Options = {}) {
  const sender = new FakeSender();
  let hasSender = true;
  const fx = effects(opts);
  const shown: string[] = [];
  const stopped: string[] = [];
  const effect = new CameraEffect({
    startBackground: fx.start,
    sender: () => (hasSender ? sender : null),
    showLocal: (t) => shown.push(t.id),
    stopped: (reason) => stopped.push(reason),
  });
  const settle = () => new Promise((r) => setTimeout(r, 0));
  const setSender = (on: boolean) => {
    hasSender = on;
  };
  return { effect, sender, fx, shown, stopped, settle, setSender };
}

describe('the background effect on the published camera', () => {
  describe('when the publisher is rebuilt while blur is on', () => {
    it('moves the running effect to the new camera and puts its picture on the new sender at once', async () => {
      const { effect, sender, fx, shown, stopped, settle } = setup({ movable: true });
      effect.cameraChanged(track('camera-1'));
      await effect.set('blur');
      expect(sender.carried).toEqual(['blur(camera-1)']);

      // A reconnection publishes again: janus.js captured a new camera track, already on the new sender.
      effect.cameraChanged(track('camera-2'));
      await settle();

      // The same processed track (now drawn from camera-2) replaces the new camera on the sender.
      expect(sender.carried).toEqual(['blur(camera-1)', 'blur(camera-1)']);
      expect(fx.started.map((e) => [e.camera, e.moved, e.stopped])).toEqual([
        ['camera-1', ['camera-2'], false],
      ]);
      expect(shown).toEqual(['blur(camera-1)']);
      expect(effect.wanted).toBe('blur');
      expect(stopped).toEqual([]);
    });

    it('publishes the camera again and says why when the effect cannot move to the new camera', async () => {
      const { effect, sender, stopped, shown, settle } = setup({ movable: true, failMove: true });
      effect.cameraChanged(track('camera-1'));
      await effect.set('blur');
      effect.cameraChanged(track('camera-2'));
      await settle();
      expect(sender.carried).toEqual(['blur(camera-1)', 'blur(camera-1)', 'camera-2']);
      expect(shown.at(-1)).toBe('camera-2');
      expect(stopped).toEqual([BACKGROUND_REASONS.notRestarted]);
      expect(effect.wanted).toBe(null);
    });

    it('holds the new camera back while an effect that cannot move starts again on it', async () => {
      const { effect, sender, fx, shown, stopped, settle } = setup();
      effect.cameraChanged(track('camera-1'));
      await effect.set('blur');
      effect.cameraChanged(track('camera-2'));
      await settle();

      expect(sender.carried).toEqual(['blur(camera-1)', null, 'blur(camera-2)']);
      expect(fx.started.map((e) => [e.camera, e.stopped])).toEqual([
        ['camera-1', true],
        ['camera-2', false],
      ]);
      expect(shown).toEqual(['blur(camera-1)', 'blur(camera-2)']);
      expect(effect.wanted).toBe('blur');
      expect(stopped).toEqual([]);
    });

    it('puts the effect on the sender once the new peer connection has one', async () => {
      const { effect, sender, settle, setSender } = setup({ movable: true });
      effect.cameraChanged(track('camera-1'));
      await effect.set('blur');
      // The old peer connection is gone before the new camera track arrives.
      setSender(false);
      effect.cameraChanged(track('camera-2'));
      await settle();
      expect(sender.carried).toEqual(['blur(camera-1)']);
      setSender(true);
      effect.published();
      await settle();
      expect(sender.carried).toEqual(['blur(camera-1)', 'blur(camera-1)']);
      effect.published();
      await settle();
      expect(sender.carried).toEqual(['blur(camera-1)', 'blur(camera-1)']);
    });

    it('publishes the camera again and says why when the effect cannot start on the new camera', async () => {
      const { effect, sender, stopped, shown, settle } = setup({ failStart: (c) => c.id === 'camera-2' });
      effect.cameraChanged(track('camera-1'));
      await effect.set('blur');
      effect.cameraChanged(track('camera-2'));
      await settle();
      expect(sender.carried).toEqual(['blur(camera-1)', null, 'camera-2']);
      expect(shown.at(-1)).toBe('camera-2');
      expect(stopped).toEqual([BACKGROUND_REASONS.notRestarted]);
      expect(effect.wanted).toBe(null);
    });
  });

  it('switches a running blur to the picture in place, and moves it to a rebuilt publisher’s camera', async () => {
    const { effect, sender, fx, settle } = setup({ movable: true });
    effect.cameraChanged(track('camera-1'));
    await effect.set('blur');
    await effect.set('image');
    expect(sender.carried).toEqual(['blur(camera-1)']);
    expect(fx.started.map((e) => [e.kinds, e.stopped])).toEqual([[['image'], false]]);
    expect(effect.wanted).toBe('image');
    effect.cameraChanged(track('camera-2'));
    await settle();
    expect(sender.carried).toEqual(['blur(camera-1)', 'blur(camera-1)']);
    expect(fx.started[0]?.moved).toEqual(['camera-2']);
  });

  it('replaces an effect that cannot switch in place by a new one', async () => {
    const { effect, sender, fx } = setup();
    effect.cameraChanged(track('camera-1'));
    await effect.set('blur');
    await effect.set('image');
    expect(sender.carried).toEqual(['blur(camera-1)', 'image(camera-1)']);
    expect(fx.started.map((e) => e.stopped)).toEqual([true, false]);
    expect(effect.wanted).toBe('image');
  });

  it('leaves the camera as it is when a switch to the other effect fails', async () => {
    const { effect, sender } = setup({ failStart: (c) => c.id === 'camera-1' && sender.carried.length > 0 });
    effect.cameraChanged(track('camera-1'));
    await effect.set('blur');
    await expect(effect.set('image')).rejects.toThrow('no WebGL context');
    expect(sender.carried).toEqual(['blur(camera-1)', 'camera-1']);
    expect(effect.wanted).toBe(null);
  });

  it('leaves a rebuilt publisher’s camera alone when blur is off', async () => {
    const { effect, sender, fx, settle } = setup();
    effect.cameraChanged(track('camera-1'));
    await effect.set('blur');
    await effect.set(null);
    effect.cameraChanged(track('camera-2'));
    await settle();
    expect(sender.carried).toEqual(['blur(camera-1)', 'camera-1']);
    expect(fx.started.map((e) => e.camera)).toEqual(['camera-1']);
  });

  it('gives the held-back camera back when blur is switched off during the restart', async () => {
    const { effect, sender, settle } = setup();
    effect.cameraChanged(track('camera-1'));
    await effect.set('blur');
    effect.cameraChanged(track('camera-2'));
    await effect.set(null);
    await settle();
    expect(sender.carried).toEqual(['blur(camera-1)', null, 'camera-2']);
  });

  describe('when the running effect gives up by itself', () => {
    it.each([
      ['slow', BACKGROUND_REASONS.tooSlow],
      ['error', BACKGROUND_REASONS.crashed],
    ] as const)('(%s) publishes the camera as it is again and says why', async (why, reason) => {
      const { effect, sender, fx, shown, stopped, settle } = setup();
      effect.cameraChanged(track('camera-1'));
      await effect.set('blur');
      fx.started[0]?.fail(why);
      await settle();
      expect(sender.carried).toEqual(['blur(camera-1)', 'camera-1']);
      expect(fx.started[0]?.stopped).toBe(true);
      expect(shown.at(-1)).toBe('camera-1');
      expect(stopped).toEqual([reason]);
      expect(effect.wanted).toBe(null);
    });

    it('ignores an effect that is no longer the running one', async () => {
      const { effect, sender, fx, stopped, settle } = setup();
      effect.cameraChanged(track('camera-1'));
      await effect.set('blur');
      effect.cameraChanged(track('camera-2'));
      await settle();
      fx.started[0]?.fail('slow');
      await settle();
      expect(stopped).toEqual([]);
      expect(sender.carried.at(-1)).toBe('blur(camera-2)');
    });
  });
});

describe('the frame-rate watch', () => {
  const frames = (w: ReturnType<typeof frameRateWatch>, from: number, to: number, fps: number) => {
    for (let t = from; t < to; t += 1000 / fps) w.frame(t);
  };

  it('is never too slow before a whole window has passed', () => {
    const w = frameRateWatch(0);
    expect(w.tooSlow(4_999)).toBe(false);
  });

  it('is too slow below 1 processed frame a second over 5 s, not at 1.5 or 24', () => {
    const slow = frameRateWatch(0);
    frames(slow, 0, 5_000, 0.6);
    expect(slow.tooSlow(5_000)).toBe(true);
    for (const fps of [1.5, 24]) {
      const fine = frameRateWatch(0);
      frames(fine, 0, 5_000, fps);
      expect(fine.tooSlow(5_000)).toBe(false);
    }
  });

  it('counts only the last window: a stall after a good start is too slow', () => {
    const w = frameRateWatch(0);
    frames(w, 0, 3_000, 24);
    expect(w.tooSlow(6_000)).toBe(false);
    expect(w.tooSlow(8_000)).toBe(true);
  });
});
