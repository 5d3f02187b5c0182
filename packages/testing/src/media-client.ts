/**
 * A participant's media client over a raw websocket, for the attacker suites: it connects with exactly what
 * JoinMedia handed out and speaks the Janus protocol itself (no janus.js), so a test can send anything a
 * hostile client would. Where it connects: an absolute `ws(s)://` server URL as given; a path (`/api/media`,
 * the gateway's door to the session service's media proxy) through the gateway with the participant's cookies,
 * or straight to one session replica's `/media` with their bearer token.
 */
import { randomBytes } from 'node:crypto';
import type { session } from '@haven/proto';
import { connectJanusWs, type JanusWsClient } from '@haven/testing';

/** How to reach a relative media URL. */
export type MediaRoute =
  | { readonly via: 'gateway'; readonly gatewayUrl: string; readonly cookie: string; readonly as?: 'patient' }
  | { readonly via: 'session'; readonly sessionHttpUrl: string; readonly bearer: string };

/** A Janus reply, flattened: plugin data, or the core error. */
export interface JanusReply {
  readonly janus: string;
  /** `plugindata.data` of a plugin reply. */
  readonly data: Record<string, unknown>;
  /** The Janus core error or the plugin's `error_code`, when refused. */
  readonly errorCode?: number;
  readonly error?: string;
  readonly raw: Record<string, unknown>;
}

/** Every non-empty string the participant received from JoinMedia: what an attacker may replay. */
export function heldStrings(m: session.JoinMediaResponse): string[] {
  const out = new Set<string>();
  const walk = (v: unknown): void => {
    if (typeof v === 'string' && v !== '') out.add(v);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v !== null && typeof v === 'object' && !(v instanceof Date)) Object.values(v).forEach(walk);
  };
  walk(m);
  return [...out];
}

/** The token a Janus client sends with every request: the media credential (or a legacy core token). */
export function tokenOf(m: session.JoinMediaResponse): string {
  return m.mediaCredential || m.janusToken;
}

/** What a client adds to its videoroom `join` from what it was given (nothing, when the server injects it). */
export function joinExtras(m: session.JoinMediaResponse): Record<string, unknown> {
  return {
    ...(Number(m.room) > 0 ? { room: Number(m.room) } : {}),
    ...(m.pin ? { pin: m.pin } : {}),
    ...(m.token ? { token: m.token } : {}),
    ...(m.displayName ? { display: m.displayName } : {}),
  };
}

/** The websocket URL and headers of a media server URL reached by `route`. */
export function mediaDoor(
  serverUrl: string,
  route: MediaRoute,
): { url: string; headers: Record<string, string> } {
  if (/^wss?:\/\//.test(serverUrl)) return { url: serverUrl, headers: {} };
  if (route.via === 'session') {
    return {
      url: `${route.sessionHttpUrl.replace(/^http/, 'ws')}/media`,
      headers: { authorization: `Bearer ${route.bearer}` },
    };
  }
  const csrf = randomBytes(32).toString('base64url');
  const url = new URL(serverUrl, route.gatewayUrl);
  url.protocol = url.protocol.replace('http', 'ws');
  url.searchParams.set('csrf', csrf);
  if (route.as) url.searchParams.set('as', route.as);
  return {
    url: url.toString(),
    headers: { cookie: `${route.cookie}; haven_csrf=${csrf}`, origin: route.gatewayUrl },
  };
}

function flatten(raw: Record<string, unknown>): JanusReply {
  const data = (raw['plugindata'] as { data?: Record<string, unknown> } | undefined)?.data ?? {};
  const core = raw['error'] as { code?: number; reason?: string } | undefined;
  const errorCode = core?.code ?? (data['error_code'] as number | undefined);
  const error = core?.reason ?? (data['error'] as string | undefined);
  return {
    janus: String(raw['janus']),
    data,
    ...(errorCode !== undefined ? { errorCode } : {}),
    ...(error !== undefined ? { error } : {}),
    raw,
  };
}

/** One websocket, one Janus session at a time, any number of videoroom handles. */
export class MediaClient {
  sessionId: number | undefined;

  private constructor(
    readonly ws: JanusWsClient,
    private readonly token: string,
  ) {}

  /** Opens the websocket. Throws when the upgrade is refused (`Unexpected server response: …`). */
  static async open(
    door: { url: string; headers: Record<string, string> },
    token: string,
  ): Promise<MediaClient> {
    return new MediaClient(await connectJanusWs(door.url, { headers: door.headers }), token);
  }

  /** A raw request with this client's token; resolves with the first reply that is not an ack. */
  async request(msg: Record<string, unknown>, timeoutMs = 5000): Promise<JanusReply> {
    return flatten(await this.ws.request({ token: this.token, ...msg }, { timeoutMs }));
  }

  /** `create`; keeps the session id. Resolves with the reply (an error reply leaves no session). */
  async create(): Promise<JanusReply> {
    const r = await this.request({ janus: 'create' });
    const id = (r.raw['data'] as { id?: number } | undefined)?.id;
    if (r.janus === 'success' && typeof id === 'number') this.sessionId = id;
    return r;
  }

  /** `attach` to a plugin (videoroom by default); resolves with the handle id or the refusal. */
  async attach(plugin = 'janus.plugin.videoroom'): Promise<{ handleId?: number; reply: JanusReply }> {
    const reply = await this.request({ janus: 'attach', session_id: this.sessionId, plugin });
    const id = (reply.raw['data'] as { id?: number } | undefined)?.id;
    return reply.janus === 'success' && typeof id === 'number' ? { handleId: id, reply } : { reply };
  }

  /** A plugin `message` on a handle. */
  message(
    handleId: number,
    body: Record<string, unknown>,
    jsep?: Record<string, unknown>,
  ): Promise<JanusReply> {
    return this.request({
      janus: 'message',
      session_id: this.sessionId,
      handle_id: handleId,
      body,
      ...(jsep ? { jsep } : {}),
    });
  }

  /** Resolves with the close code once the server (or we) closed the socket, or undefined after `ms`. */
  async closedWithin(ms: number): Promise<{ code: number; reason: string } | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), ms)));
    try {
      return await Promise.race([this.ws.closed, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    this.ws.close();
  }
}

/** A one-off Janus admin API request (list_sessions, list_handles, handle_info…) on a node. */
export async function janusAdmin(
  adminWsUrl: string,
  adminSecret: string,
  msg: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const ws = await connectJanusWs(adminWsUrl, { admin: true });
  try {
    return await ws.request({ admin_secret: adminSecret, ...msg });
  } finally {
    ws.close();
  }
}

/** The Janus session ids alive on a node right now (admin API `list_sessions`). */
export async function janusSessions(adminWsUrl: string, adminSecret: string): Promise<number[]> {
  const r = await janusAdmin(adminWsUrl, adminSecret, { janus: 'list_sessions' });
  return (r['sessions'] as number[] | undefined) ?? [];
}

/**
 * Opens a media door with a credential, creates a session, attaches to the videoroom and joins as a publisher
 * (nothing but `request` and `ptype`: the proxy injects the rest). Resolves with the client and 'joined' or the
 * refusal (the Janus core error or the videoroom error code). Throws when the websocket itself is refused.
 */
export async function publishThrough(
  door: { url: string; headers: Record<string, string> },
  credential: string,
): Promise<{ outcome: 'joined' | number; client: MediaClient; feed?: number }> {
  const c = await MediaClient.open(door, credential);
  const created = await c.create();
  if (created.janus !== 'success') return { outcome: created.errorCode ?? -1, client: c };
  const { handleId, reply } = await c.attach();
  if (handleId === undefined) return { outcome: reply.errorCode ?? -1, client: c };
  const joined = await c.message(handleId, { request: 'join', ptype: 'publisher' });
  if (joined.errorCode !== undefined) return { outcome: joined.errorCode, client: c };
  return joined.data['videoroom'] === 'joined'
    ? { outcome: 'joined', client: c, feed: joined.data['id'] as number }
    : { outcome: -1, client: c };
}
