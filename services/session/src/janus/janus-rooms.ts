/**
 * The session service's adapter to Janus videoroom, through janode (the Janus authors' Node adapter).
 * Rooms are created with a secret and a PIN, then switched to token checking (`allowed enable`) before anyone
 * learns they exist: from then on only tokens added with `allowed add` (at admission) can join.
 */
import type { Logger } from 'pino';
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
  /** The websocket URL browsers use for this node (JoinMedia's server_url); default `wsUrl`. */
  readonly publicWsUrl?: string;
}

export interface RoomSpec {
  readonly room: number;
  readonly secret: string;
  readonly pin: string;
  readonly description: string;
}

// janode is ESM-only and untyped; a real dynamic import keeps it out of the CommonJS require chain (and out of
// ts-jest's CommonJS rewrite of `import()`).
// eslint-disable-next-line @typescript-eslint/no-implied-eval
const importEsm = new Function('specifier', 'return import(specifier)') as (
  s: string,
) => Promise<{ default: any }>; // eslint-disable-line @typescript-eslint/no-explicit-any

interface VideoRoomHandle {
  create(params: Record<string, unknown>): Promise<unknown>;
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
      const { default: Janode } = await importEsm('janode');
      const { default: VideoRoomPlugin } = await importEsm('janode/plugins/videoroom');
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
      const rooms = new JanusRooms(node, connection as JanodeConnection, handle);
      let lost = false;
      const onLost = (): void => {
        if (lost || rooms.closing) return;
        lost = true;
        options.onLost?.(rooms);
      };
      const events = Janode.EVENT as Record<string, string>;
      (connection as JanodeConnection).once(events['CONNECTION_ERROR'] ?? 'connection_error', onLost);
      (connection as JanodeConnection).once(events['CONNECTION_CLOSED'] ?? 'connection_closed', onLost);
      (session as JanodeConnection).once(events['SESSION_DESTROYED'] ?? 'session_destroyed', onLost);
      return rooms;
    } catch (error) {
      throw new UnavailableError(`janus node ${node.id} unreachable`, { cause: error });
    }
  }

  /**
   * Creates the room (idempotent: an existing room with that number is kept) and enables its allow-list.
   * Throws UnavailableError on a Janus failure.
   */
  async createRoom(spec: RoomSpec): Promise<void> {
    try {
      const { exists } = await this.handle.exists({ room: spec.room });
      if (!exists) {
        await this.handle.create({
          room: spec.room,
          description: spec.description,
          secret: spec.secret,
          pin: spec.pin,
          is_private: true,
          max_publishers: 6,
          permanent: false,
          ...(this.node.adminKey ? { admin_key: this.node.adminKey } : {}),
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

  /** Removes room tokens from the room's allow-list. Throws UnavailableError on a Janus failure. */
  async revokeTokens(room: number, secret: string, tokens: readonly string[]): Promise<void> {
    if (tokens.length === 0) return;
    try {
      await this.handle.allow({ room, action: 'remove', list: [...tokens], secret });
    } catch (error) {
      throw new UnavailableError(`janus room ${room}: allow-list remove failed`, { cause: error });
    }
  }

  /**
   * Kicks every publisher feed of a participant: the given feed and any feed whose `display` is the participant
   * id (the browser joins with display = participant id). Throws UnavailableError on a Janus failure.
   */
  async kickParticipant(
    room: number,
    secret: string,
    participantId: string,
    knownFeed?: number,
  ): Promise<number[]> {
    try {
      const { participants } = await this.handle.listParticipants({ room, secret });
      const feeds = new Set(participants.filter((p) => p.display === participantId).map((p) => p.feed));
      if (knownFeed !== undefined && participants.some((p) => p.feed === knownFeed)) feeds.add(knownFeed);
      for (const feed of feeds) await this.handle.kick({ room, feed, secret });
      return [...feeds];
    } catch (error) {
      throw new UnavailableError(`janus room ${room}: kick failed`, { cause: error });
    }
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
