/**
 * The Janus nodes this session service places rooms on. A new room goes to the healthy node with the fewest
 * rooms this service has placed; a visit already placed stays on its node.
 */
import type { Logger } from 'pino';
import { UnavailableError } from '@haven/errors';
import { JanusRooms, type JanusNode } from './janus-rooms';

export class JanusPool {
  private readonly connections = new Map<string, JanusRooms>();
  private readonly placed = new Map<string, string>();
  private readonly load = new Map<string, number>();

  constructor(
    private readonly nodes: readonly JanusNode[],
    private readonly logger: Logger,
  ) {
    if (nodes.length === 0) throw new UnavailableError('no Janus node configured');
  }

  /** Connects to every node; nodes that fail stay out of placement until a later call reconnects them. */
  async connect(): Promise<void> {
    await Promise.all(
      this.nodes.map((n) =>
        this.connection(n).catch((error: unknown) =>
          this.logger.warn({ node: n.id, err: error }, 'janus node unavailable'),
        ),
      ),
    );
  }

  private async connection(node: JanusNode): Promise<JanusRooms> {
    const existing = this.connections.get(node.id);
    if (existing) return existing;
    const rooms = await JanusRooms.connect(node, this.logger);
    this.connections.set(node.id, rooms);
    this.load.set(node.id, this.load.get(node.id) ?? 0);
    return rooms;
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

  async close(): Promise<void> {
    await Promise.all([...this.connections.values()].map((c) => c.close()));
    this.connections.clear();
  }
}
