/**
 * Parses the POST bodies of Janus's HTTP event handler (sampleevh): one event object or, with grouping, an array.
 * Only videoroom publisher events matter here: `joined` (a publisher entered a room, with its feed id and the
 * `display` the browser chose: the participant id), `leaving` and `kicked`.
 */

/** A media event of one videoroom publisher. */
export interface VideoRoomMediaEvent {
  readonly kind: 'joined' | 'leaving' | 'kicked';
  readonly room: number;
  readonly feedId: number;
  readonly display?: string;
}

const KINDS = new Set(['joined', 'leaving', 'kicked']);

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The videoroom media events in a Janus event-handler body (parsed JSON). Anything else is skipped. Throws nothing. */
export function videoRoomMediaEvents(body: unknown): VideoRoomMediaEvent[] {
  const items = Array.isArray(body) ? body : [body];
  const out: VideoRoomMediaEvent[] = [];
  for (const item of items) {
    if (!isRecord(item) || !isRecord(item['event'])) continue;
    const event = item['event'];
    if (event['plugin'] !== 'janus.plugin.videoroom' || !isRecord(event['data'])) continue;
    const data = event['data'];
    const kind = data['event'];
    const room = data['room'];
    const id = data['id'];
    if (typeof kind !== 'string' || !KINDS.has(kind)) continue;
    if (typeof room !== 'number' || typeof id !== 'number') continue;
    const display = data['display'];
    out.push({
      kind: kind as VideoRoomMediaEvent['kind'],
      room,
      feedId: id,
      ...(typeof display === 'string' ? { display } : {}),
    });
  }
  return out;
}
