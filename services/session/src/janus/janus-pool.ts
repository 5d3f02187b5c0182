/**
 * The Janus nodes this session service places rooms on. A new room goes to the healthy node with the fewest
 * rooms this service has placed; a visit already placed stays on its node.
 *
 * When a node's connection drops (Janus restarted), the pool reconnects with bounded back-off and then calls
 * the `onReconnected` listener, which recreates that node's live rooms and their allow-lists.
 */
import type { Logger } from 'pino';
import { UnavailableError } from '@haven/errors';
import { JanusRooms, type JanusNode } from './janus-rooms';

/** Options of {@link JanusPool}. */
export interface JanusPoolOptions {
  /** Called after a lost node is connected again (recreate its rooms). Errors are logged. */
  readonly onReconnected?: (rooms: JanusRooms) => Promise<void>;
  /** Reconnect attempts after a loss before giving up (a later call reconnects on demand). Default 10. */
  readonly maxReconnectAttempts?: number;
  /** First back-off delay; doubles up to 5 s. Default 250 ms. */
  readonly reconnectBaseMs?: number;
}

export class JanusPool {
  private readonly connections = new Map<string, JanusRooms>();
  private readonly connecting = new Map<string, Promise<JanusRooms>>();
  private readonly placed = new Map<string, string>();
  private readonly load = new Map<string, number>();
  private closed = false;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly nodes: readonly JanusNode[],
    private readonly logger: Logger,
    private readonly options: JanusPoolOptions = {},
  ) {
    if (nodes.length === 0) throw new UnavailableError('no Janus node configured');
  }

  /**
   * Connects to every node; a node that fails stays out of placement and is retried in the background (with the
   * reconnect back-off), so a Janus that starts after this service (the dev stack starts it once the session
   * service is up, for its event handler) is connected as soon as it answers.
   */
  async connect(): Promise<void> {
    await Promise.all(
      this.nodes.map((n) =>
        this.connection(n).catch((error: unknown) => {
          this.logger.warn({ node: n.id, err: error }, 'janus node unavailable; retrying');
          this.reconnect(n);
        }),
      ),
    );
  }

  private async connection(node: JanusNode): Promise<JanusRooms> {
    if (this.closed) throw new UnavailableError('janus pool closed');
    const existing = this.connections.get(node.id);
    if (existing) return existing;
    const pending = this.connecting.get(node.id);
    if (pending) return pending;
    const attempt = JanusRooms.connect(node, this.logger, { onLost: (r) => this.lost(r) })
      .then((rooms) => {
        this.connections.set(node.id, rooms);
        this.load.set(node.id, this.load.get(node.id) ?? 0);
        return rooms;
      })
      .finally(() => this.connecting.delete(node.id));
    this.connecting.set(node.id, attempt);
    return attempt;
  }

  private lost(rooms: JanusRooms): void {
    const node = rooms.node;
    if (this.connections.get(node.id) === rooms) this.connections.delete(node.id);
    if (this.closed) return;
    this.logger.warn({ node: node.id }, 'janus connection lost; reconnecting');
    this.reconnect(node);
  }

  /** Tries `node` again with bounded back-off; once connected, the `onReconnected` listener runs. */
  private reconnect(node: JanusNode): void {
    const max = this.options.maxReconnectAttempts ?? 10;
    const base = this.options.reconnectBaseMs ?? 250;
    const tryAt = (attempt: number): void => {
      const delay = Math.min(5000, base * 2 ** attempt);
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        if (this.closed) return;
        this.connection(node).then(
          async (fresh) => {
            this.logger.info({ node: node.id, attempt: attempt + 1 }, 'janus reconnected');
            try {
              await this.options.onReconnected?.(fresh);
            } catch (error) {
              this.logger.error({ node: node.id, err: error }, 'recreating rooms after reconnect failed');
            }
          },
          (error: unknown) => {
            if (attempt + 1 < max) tryAt(attempt + 1);
            else this.logger.error({ node: node.id, err: error }, 'janus node still unreachable; giving up');
          },
        );
      }, delay);
      this.timers.add(timer);
    };
    tryAt(0);
  }

  /** The node of a visit, placing it on the least-loaded healthy node the first time. Throws UnavailableError if none. */
  async nodeFor(visitId: string): Promise<JanusRooms> {
    const placedOn = this.placed.get(visitId);
    const candidates = placedOn
      ? this.nodes.filter((n) => n.id === placedOn)
      : [...this.nodes].sort((a, b) => (this.load.get(a.id) ?? 0) - (this.load.get(b.id) ?? 0));
    for (const node of candidates) {
      try {
        const rooms = await this.connection(node);
        if (!placedOn) {
          this.placed.set(visitId, node.id);
          this.load.set(node.id, (this.load.get(node.id) ?? 0) + 1);
        }
        return rooms;
      } catch (error) {
        this.logger.warn({ node: node.id, err: error }, 'janus node unavailable, trying the next');
      }
    }
    throw new UnavailableError('no healthy Janus node');
  }

  /**
   * The connection to a given node (a visit's recorded `janusNode`), connecting on demand; records the placement.
   * Throws UnavailableError when the node is unknown or unreachable.
   */
  async node(nodeId: string, visitId?: string): Promise<JanusRooms> {
    const node = this.nodes.find((n) => n.id === nodeId);
    if (!node) throw new UnavailableError(`janus node ${nodeId} is not configured`);
    if (visitId !== undefined && !this.placed.has(visitId)) {
      this.placed.set(visitId, nodeId);
      this.load.set(nodeId, (this.load.get(nodeId) ?? 0) + 1);
    }
    return this.connection(node);
  }

  /** The node config of an id, or undefined. */
  nodeConfig(nodeId: string): JanusNode | undefined {
    return this.nodes.find((n) => n.id === nodeId);
  }

  /** Forgets a visit's placement (its room was destroyed). */
  release(visitId: string): void {
    const nodeId = this.placed.get(visitId);
    if (nodeId === undefined) return;
    this.placed.delete(visitId);
    this.load.set(nodeId, Math.max(0, (this.load.get(nodeId) ?? 1) - 1));
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await Promise.all([...this.connections.values()].map((c) => c.close()));
    this.connections.clear();
  }
}
