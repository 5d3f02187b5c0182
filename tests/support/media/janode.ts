/**
 * The drivers' admin handle on Janus's videoroom through janode (the library the session service uses): connect
 * with the core token, attach the plugin, and the few room requests the drivers make.
 */

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

/** The variable `name` of the driver's environment, or an error naming it. */
export function requiredEnv(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is required`);
  return v;
}
