/**
 * The session service's adapter to Janus videoroom, through janode (the Janus authors' Node adapter).
 * Rooms are created private, with a secret and a PIN, recording locked to the secret (`lock_record`) and into
 * the recordings directory only (`rec_dir`), then switched to token checking (`allowed enable`) before anyone
 * learns they exist: from then on only tokens added with `allowed add` (at admission) can publish. Participants
 * never reach Janus themselves: the media proxy (../media) does, with the PIN and token injected.
 */
import type { Logger } from 'pino';
import Janode from 'janode';
import VideoRoomPlugin from 'janode/plugins/videoroom';
import { UnavailableError } from '@haven/errors';
import { signJanusToken } from './janus-token';

/** One Janus node the session service may place rooms on. */
export interface JanusNode {
  readonly id: string;
  readonly wsUrl: string;
  /** token_auth_secret of that node: the service signs its own API tokens with it. */
  readonly tokenSecret: string;
  /** The videoroom plugin's admin_key, when the node requires one to create rooms. */
  readonly adminKey?: string;
  /** Where Janus writes recordings (the room's `rec_dir`); Janus's default when unset. */
  readonly recordingsDir?: string;
}

export interface RoomSpec {
  readonly room: number;
  readonly secret: string;
  readonly pin: string;
  readonly description: string;
}

interface VideoRoomHandle {
  message(body: Record<string, unknown>): Promise<unknown>;
  allow(params: Record<string, unknown>): Promise<unknown>;
  destroy(params: Record<string, unknown>): Promise<unknown>;
  exists(params: { room: number }): Promise<{ exists: boolean }>;
  kick(params: { room: number; feed: number; secret: string }): Promise<unknown>;
  listParticipants(params: {
    room: number;
    secret?: string;
  }): Promise<{ participants: { feed: number; display?: string }[] }>;
}

interface JanodeConnection {
  close(): Promise<void>;
  once(event: string, listener: (...args: unknown[]) => void): void;
}

/** A live connection to one Janus node with a videoroom handle for room administration. */
export class JanusRooms {
  private closing = false;

  private constructor(
    readonly node: JanusNode,
    private readonly connection: JanodeConnection,
    private readonly handle: VideoRoomHandle,
  ) {}

  /**
   * Connects to a node and attaches to its videoroom plugin. `onLost` is called once when the connection drops
   * unexpectedly (Janus stopped or restarted), never after `close()`.
   * Throws UnavailableError when Janus is unreachable.
   */
  static async connect(
    node: JanusNode,
    logger: Logger,
    options: { onLost?: (rooms: JanusRooms) => void } = {},
  ): Promise<JanusRooms> {
    try {
      routeJanodeLogs(Janode.Logger, logger);
      const token = signJanusToken({
        secret: node.tokenSecret,
        expiresAt: new Date(Date.now() + 24 * 3600_000),
      });
      const connection = await Janode.connect({
        address: { url: node.wsUrl, token },
        retry_time_secs: 1,
        max_retries: 3,
      });
      const session = await connection.create();
      const handle = (await session.attach(VideoRoomPlugin)) as VideoRoomHandle;
      const rooms = new JanusRooms(node, connection, handle);
      let lost = false;
      const onLost = (): void => {
        if (lost || rooms.closing) return;
        lost = true;
        options.onLost?.(rooms);
      };
      const events = Janode.EVENT;
      connection.once(events['CONNECTION_ERROR'] ?? 'connection_error', onLost);
      connection.once(events['CONNECTION_CLOSED'] ?? 'connection_closed', onLost);
      session.once(events['SESSION_DESTROYED'] ?? 'session_destroyed', onLost);
      return rooms;
    } catch (error) {
      throw new UnavailableError(`janus node ${node.id} unreachable`, { cause: error });
    }
  }

  /**
   * Creates the room (idempotent: an existing room with that number is kept, and locked down the same way) and
   * enables its allow-list. Throws UnavailableError on a Janus failure.
   */
  async createRoom(spec: RoomSpec): Promise<void> {
    const recDir = this.node.recordingsDir;
    try {
      const { exists } = await this.handle.exists({ room: spec.room });
      if (!exists) {
        // janode's create() has no lock_record: the plain request.
        await this.handle.message({
          request: 'create',
          room: spec.room,
          description: spec.description,
          secret: spec.secret,
          pin: spec.pin,
          is_private: true,
          publishers: 6,
          permanent: false,
          // Recording only with the room secret (the session service's alone), and only into rec_dir.
          lock_record: true,
          ...(recDir ? { rec_dir: recDir } : {}),
          ...(this.node.adminKey ? { admin_key: this.node.adminKey } : {}),
        });
      } else {
        // A room created before this lock-down (or by an older version): lock it now.
        await this.handle.message({
          request: 'edit',
          room: spec.room,
          secret: spec.secret,
          new_is_private: true,
          new_lock_record: true,
          ...(recDir ? { new_rec_dir: recDir } : {}),
          permanent: false,
        });
      }
      // The list sent with `enable` is ignored by Janus; tokens are added one by one at admission.
      await this.handle.allow({ room: spec.room, action: 'enable', list: [], secret: spec.secret });
    } catch (error) {
      throw new UnavailableError(`janus room ${spec.room} could not be created`, { cause: error });
    }
  }

  /** Adds room tokens to the room's allow-list. Throws UnavailableError on a Janus failure. */
  async allowTokens(room: number, secret: string, tokens: readonly string[]): Promise<void> {
    if (tokens.length === 0) return;
    try {
      await this.handle.allow({ room, action: 'add', list: [...tokens], secret });
    } catch (error) {
      throw new UnavailableError(`janus room ${room}: allow-list add failed`, { cause: error });
    }
  }

  /**
   * Starts (`dir` given: every feed's `.mjr` files go into it, created by Janus) or stops recording the room, with
   * the room secret (rooms are `lock_record`: nobody else can). Throws UnavailableError on a Janus failure.
   */
  async setRecording(
    room: number,
    secret: string,
    options: { record: boolean; dir?: string },
  ): Promise<void> {
    try {
      if (options.dir !== undefined) {
        await this.handle.message({
          request: 'edit',
          room,
          secret,
          new_rec_dir: options.dir,
          permanent: false,
        });
      }
      await this.handle.message({ request: 'enable_recording', room, secret, record: options.record });
    } catch (error) {
      throw new UnavailableError(`janus room ${room}: recording could not be switched`, { cause: error });
    }
  }

  /** Removes room tokens from the room's allow-list. Throws UnavailableError on a Janus failure. */
  async revokeTokens(room: number, secret: string, tokens: readonly string[]): Promise<void> {
    if (tokens.length === 0) return;
    try {
      await this.handle.allow({ room, action: 'remove', list: [...tokens], secret });
    } catch (error) {
      throw new UnavailableError(`janus room ${room}: allow-list remove failed`, { cause: error });
    }
  }

  /** Everyone publishing in a room (feed id and display). Throws UnavailableError on a Janus failure. */
  async participants(room: number, secret: string): Promise<{ feed: number; display?: string }[]> {
    try {
      return (await this.handle.listParticipants({ room, secret })).participants;
    } catch (error) {
      throw new UnavailableError(`janus room ${room}: listing participants failed`, { cause: error });
    }
  }

  /** Kicks one feed; a feed already gone is fine. Throws UnavailableError on any other Janus failure. */
  async kickFeed(room: number, secret: string, feed: number): Promise<void> {
    try {
      await this.handle.kick({ room, feed, secret });
    } catch (error) {
      // 428: no such feed (it left, or was kicked already).
      if ((error as { _code?: unknown })._code === 428) return;
      throw new UnavailableError(`janus room ${room}: kick failed`, { cause: error });
    }
  }

  /**
   * Kicks every publisher feed of a participant: the feeds the visit knows for them, and any feed published
   * under their id (the media proxy's displays are `<participant id>.<MAC>`). Returns the feeds kicked.
   * Throws UnavailableError on a Janus failure.
   */
  async kickParticipant(
    room: number,
    secret: string,
    participantId: string,
    knownFeeds: readonly number[] = [],
  ): Promise<number[]> {
    const present = await this.participants(room, secret);
    const feeds = new Set(
      present
        .filter((p) => p.display === participantId || (p.display ?? '').startsWith(`${participantId}.`))
        .map((p) => p.feed),
    );
    for (const f of knownFeeds) if (present.some((p) => p.feed === f)) feeds.add(f);
    for (const feed of feeds) await this.kickFeed(room, secret, feed);
    return [...feeds];
  }

  /** True when the room exists on this node. */
  async roomExists(room: number): Promise<boolean> {
    return (await this.handle.exists({ room })).exists;
  }

  /** Destroys a room; a room that no longer exists is fine. */
  async destroyRoom(room: number, secret: string): Promise<void> {
    if (!(await this.roomExists(room))) return;
    await this.handle.destroy({ room, secret, permanent: false });
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.connection.close().catch(() => undefined);
  }
}

function routeJanodeLogs(janodeLogger: Record<string, unknown>, logger: Logger): void {
  const child = logger.child({ component: 'janode' });
  // janode warns about Janus's ack-then-event replies ("transaction … not found"): harmless, keep them at debug.
  janodeLogger.error = (...args: unknown[]) => child.error(args.map(String).join(' '));
  janodeLogger.warn = (...args: unknown[]) => child.debug(args.map(String).join(' '));
  janodeLogger.info = (...args: unknown[]) => child.debug(args.map(String).join(' '));
  janodeLogger.verbose = () => undefined;
  janodeLogger.debug = () => undefined;
}
