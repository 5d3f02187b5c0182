/**
 * The drivers' admin handle on Janus's videoroom through janode (the library the session service uses): connect
 * with the core token, attach the plugin, and the few room requests the drivers make.
 */
import { randomBytes, randomInt } from 'node:crypto';

/** The videoroom requests the drivers make. */
export interface VideoRoomHandle {
  create(o: Record<string, unknown>): Promise<unknown>;
  allow(o: { room: number; action: string; list?: string[]; secret: string }): Promise<{ list?: string[] }>;
  destroy(o: { room: number; secret: string }): Promise<unknown>;
}

/** A connection with one videoroom handle attached; `close` ends both. */
export interface JanodeRoomAdmin {
  readonly handle: VideoRoomHandle;
  close(): Promise<void>;
}

interface JanodeConnection {
  create(): Promise<{ attach(plugin: unknown): Promise<VideoRoomHandle> }>;
  close(): Promise<void>;
}

// janode is ESM-only and this file is compiled to CommonJS (import() would become require()): a real import().
// eslint-disable-next-line @typescript-eslint/no-implied-eval
const dynamicImport = new Function('s', 'return import(s)') as (
  s: string,
) => Promise<Record<string, unknown>>;

/** Connects to Janus's websocket `url` with `token` and attaches a videoroom handle (errors logged only). */
export async function connectVideoRoomAdmin(url: string, token: string): Promise<JanodeRoomAdmin> {
  const { default: Janode } = (await dynamicImport('janode')) as {
    default: { connect(c: unknown): Promise<JanodeConnection>; Logger: { setLevel(l: string): void } };
  };
  const { default: VideoRoomPlugin } = (await dynamicImport('janode/plugins/videoroom')) as {
    default: unknown;
  };
  Janode.Logger.setLevel('error');
  const conn = await Janode.connect({ address: { url, token }, retry_time_secs: 1, max_retries: 3 });
  try {
    const handle = await (await conn.create()).attach(VideoRoomPlugin);
    return { handle, close: () => conn.close() };
  } catch (err) {
    await conn.close().catch(() => undefined);
    throw err;
  }
}

/** A private videoroom (PIN, allow-list of room tokens) a driver opened with its own admin handle. */
export interface PrivateRoom {
  readonly room: number;
  readonly pin: string;
  /** Destroys the room (once; later calls do nothing). */
  destroy(): Promise<void>;
  /** Destroys the room if it is still there (errors ignored) and closes the admin connection. */
  close(): Promise<void>;
}

/**
 * Opens a private videoroom on Janus's websocket `url` with the core token `coreToken`: a random room number,
 * admin secret and PIN, at most 4 publishers, VP8, `create` added to the create request, and the room tokens
 * `allowed` on its enforced allow-list. Throws when Janus refuses, or the allow-list does not hold them.
 */
export async function openPrivateRoom(
  url: string,
  coreToken: string,
  options: { readonly allowed: readonly string[]; readonly create?: Record<string, unknown> },
): Promise<PrivateRoom> {
  const room = randomInt(1, 2 ** 31);
  const secret = randomBytes(12).toString('hex');
  const pin = randomBytes(4).toString('hex');
  const admin = await connectVideoRoomAdmin(url, coreToken);
  let destroyed = true;
  const destroy = async (): Promise<void> => {
    if (destroyed) return;
    destroyed = true;
    await admin.handle.destroy({ room, secret });
  };
  try {
    const { handle } = admin;
    await handle.create({
      room,
      secret,
      pin,
      is_private: true,
      max_publishers: 4,
      videocodec: 'vp8',
      ...options.create,
    });
    destroyed = false;
    await handle.allow({ room, secret, action: 'enable' });
    const allowed = await handle.allow({ room, secret, action: 'add', list: [...options.allowed] });
    if (!options.allowed.every((t) => allowed.list?.includes(t)))
      throw new Error(`allowed list not updated: ${JSON.stringify(allowed)}`);
  } catch (err) {
    await destroy().catch(() => undefined);
    await admin.close().catch(() => undefined);
    throw err;
  }
  return {
    room,
    pin,
    destroy,
    async close() {
      await destroy().catch(() => undefined);
      await admin.close().catch(() => undefined);
    },
  };
}

/** The variable `name` of the driver's environment, or an error naming it. */
export function requiredEnv(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is required`);
  return v;
}
