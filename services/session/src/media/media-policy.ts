/**
 * What a participant may ask Janus through the media proxy. Pure: no I/O. The proxy (media-proxy.ts) asks
 * {@link screenRequest} about every message a client sends; only what it allows reaches Janus, rewritten to carry
 * what the server chose (the room, its PIN, the room token and the publisher's display) and nothing a client chose
 * that could change the room, record, forward or rename.
 *
 * Janus cannot scope requests per participant (a valid core token may list any room, a subscriber needs only the
 * PIN, a publisher picks its own display and may ask to record), so this allow-list is where a participant's
 * reach is decided: a videoroom `join` (publisher or subscriber) into their own visit's room, `configure` /
 * `publish` without `record`, `filename` or `display`, `unpublish`, `start`, `pause`, `leave`, a subscriber's
 * `update` / `subscribe` / `unsubscribe` / `switch`, and the Janus verbs janus.js needs around them (create,
 * attach to the videoroom plugin only, keepalive, trickle, hangup, detach, destroy). Everything else is refused.
 */

/** What a videoroom handle of the client is, as far as the proxy has seen. */
export type HandleRole = 'none' | 'publisher' | 'subscriber';

/** The videoroom plugin, the only one a participant may attach to. */
export const VIDEOROOM_PLUGIN = 'janus.plugin.videoroom';

/** Janus core error codes the proxy answers with (janus.h). */
export const JanusError = {
  Unauthorized: 403,
  UnauthorizedPlugin: 405,
  UnknownRequest: 453,
  InvalidJson: 454,
  SessionNotFound: 458,
  HandleNotFound: 459,
  TooManyRequests: 429,
} as const;

/** Videoroom error codes the proxy answers with (janus_videoroom.c). */
export const VideoRoomError = {
  InvalidRequest: 423,
  AlreadyJoined: 425,
  PublishersFull: 432,
  Unauthorized: 433,
} as const;

/** What the proxy puts into a join: chosen by the server for this participant, never by the client. */
export interface Injected {
  readonly room: number;
  readonly pin: string;
  /** The room token on the allow-list (publishers only). */
  readonly token: string;
  /** `<participant id>.<MAC>` (see serverDisplay). */
  readonly display: string;
}

/** The verdict on a videoroom message body. */
export type BodyVerdict =
  | {
      readonly ok: true;
      readonly request: string;
      readonly body: Record<string, unknown>;
      /** A join: what the handle becomes once Janus accepts it. */
      readonly joins?: 'publisher' | 'subscriber';
      /** The handle stops being a publisher/subscriber (leave, unpublish keeps it joined). */
      readonly leaves?: boolean;
    }
  | { readonly ok: false; readonly request: string; readonly code: number; readonly reason: string };

type Rule = {
  /** Roles the handle may have. */
  readonly roles: readonly HandleRole[];
  /** Allowed top-level keys besides `request` and `room` (checked against the injected room). */
  readonly keys: readonly string[];
  /** Allowed keys of each element of these array fields. */
  readonly arrays?: Readonly<Record<string, readonly string[]>>;
};

const SIMULCAST = ['substream', 'temporal', 'fallback', 'spatial_layer', 'temporal_layer'] as const;
const DELAYS = ['min_delay', 'max_delay'] as const;
const DESCRIPTIONS = ['mid', 'description'] as const;

const PUBLISHER_JOIN: Rule = { roles: ['none'], keys: ['ptype', 'audio', 'video', 'data', 'bitrate'] };
const SUBSCRIBER_JOIN: Rule = {
  roles: ['none'],
  keys: [
    'ptype',
    'streams',
    'feed',
    'private_id',
    'autoupdate',
    'use_msid',
    'close_pc',
    'audio',
    'video',
    'data',
    'offer_audio',
    'offer_video',
    'offer_data',
    ...SIMULCAST,
  ],
  arrays: { streams: ['feed', 'mid', 'crossrefid', 'send', ...SIMULCAST, ...DELAYS] },
};

/** Every request a participant may send, by name (publisher/subscriber variants of `configure` and `join` apart). */
const RULES: Readonly<Record<string, Rule>> = {
  publish: {
    roles: ['publisher'],
    keys: [
      'audio',
      'video',
      'data',
      'audiocodec',
      'videocodec',
      'bitrate',
      'keyframe',
      'descriptions',
      'update',
      'restart',
    ],
    arrays: { descriptions: DESCRIPTIONS },
  },
  'configure:publisher': {
    roles: ['publisher'],
    keys: ['audio', 'video', 'data', 'bitrate', 'keyframe', 'streams', 'descriptions', 'update', 'restart'],
    arrays: { streams: ['mid', 'send', 'keyframe', ...DELAYS], descriptions: DESCRIPTIONS },
  },
  'configure:subscriber': {
    roles: ['subscriber'],
    keys: ['audio', 'video', 'data', 'streams', 'update', 'restart', ...SIMULCAST],
    arrays: { streams: ['mid', 'send', ...SIMULCAST, ...DELAYS] },
  },
  unpublish: { roles: ['publisher'], keys: [] },
  leave: { roles: ['publisher', 'subscriber'], keys: [] },
  start: { roles: ['subscriber'], keys: [] },
  pause: { roles: ['subscriber'], keys: [] },
  switch: { roles: ['subscriber'], keys: ['streams'], arrays: { streams: ['feed', 'mid', 'sub_mid'] } },
  update: {
    roles: ['subscriber'],
    keys: ['subscribe', 'unsubscribe'],
    arrays: { subscribe: ['feed', 'mid', 'crossrefid'], unsubscribe: ['feed', 'mid', 'sub_mid'] },
  },
  subscribe: {
    roles: ['subscriber'],
    keys: ['streams'],
    arrays: { streams: ['feed', 'mid', 'crossrefid', ...SIMULCAST, ...DELAYS] },
  },
  unsubscribe: { roles: ['subscriber'], keys: ['streams'], arrays: { streams: ['feed', 'mid', 'sub_mid'] } },
};

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Longest string value accepted anywhere in a body (a description, a mid, a codec name). */
const MAX_STRING = 128;

function refuse(request: string, code: number, reason: string): BodyVerdict {
  return { ok: false, request, code, reason };
}

/** Checks keys (and array elements' keys and value types) against a rule. Returns a reason or undefined. */
function badKeys(body: Record<string, unknown>, rule: Rule): string | undefined {
  for (const [key, value] of Object.entries(body)) {
    if (key === 'request' || key === 'room') continue;
    if (!rule.keys.includes(key)) return `field ${key} is not allowed`;
    const elementKeys = rule.arrays?.[key];
    if (elementKeys) {
      if (!Array.isArray(value) || value.length > 16) return `${key} must be a short array`;
      for (const element of value) {
        if (!isRecord(element)) return `${key} must hold objects`;
        for (const [k, v] of Object.entries(element)) {
          if (!elementKeys.includes(k)) return `field ${key}.${k} is not allowed`;
          if (typeof v === 'string' ? v.length > MAX_STRING : typeof v === 'object' && v !== null) {
            return `field ${key}.${k} is not a plain value`;
          }
        }
      }
    } else if (
      typeof value === 'string' ? value.length > MAX_STRING : typeof value === 'object' && value !== null
    ) {
      return `field ${key} is not a plain value`;
    }
  }
  return undefined;
}

/** The request name of a body, for refusals: `request` when it is a sane string, else `invalid`. */
export function requestName(body: unknown): string {
  const r = isRecord(body) ? body['request'] : undefined;
  return typeof r === 'string' && /^[a-z_]{1,32}$/.test(r) ? r : 'invalid';
}

/**
 * The verdict on a videoroom message body a client sent on a handle in `role`. A `room` in the body must be
 * the participant's own; `join` gets the room and PIN (and, for publishers, the room token and the server's
 * display) injected. Never throws.
 */
export function screenVideoRoomBody(body: unknown, role: HandleRole, inject: Injected): BodyVerdict {
  const request = requestName(body);
  if (!isRecord(body) || request === 'invalid') {
    return refuse(request, VideoRoomError.InvalidRequest, 'not a videoroom request');
  }
  if (body['room'] !== undefined && body['room'] !== inject.room && body['room'] !== String(inject.room)) {
    return refuse(request, VideoRoomError.Unauthorized, 'another room');
  }
  if (request === 'join') {
    const ptype = body['ptype'];
    const rule =
      ptype === 'publisher' ? PUBLISHER_JOIN : ptype === 'subscriber' ? SUBSCRIBER_JOIN : undefined;
    if (!rule) return refuse(request, VideoRoomError.Unauthorized, 'join as publisher or subscriber only');
    if (role !== 'none')
      return refuse(request, VideoRoomError.AlreadyJoined, 'this handle has already joined');
    const bad = badKeys(body, rule);
    if (bad) return refuse(request, VideoRoomError.Unauthorized, bad);
    const { room: _room, ...rest } = body;
    return {
      ok: true,
      request,
      joins: ptype === 'publisher' ? 'publisher' : 'subscriber',
      body:
        ptype === 'publisher'
          ? { ...rest, room: inject.room, pin: inject.pin, token: inject.token, display: inject.display }
          : { ...rest, room: inject.room, pin: inject.pin },
    };
  }
  const rule =
    request === 'configure'
      ? RULES[role === 'subscriber' ? 'configure:subscriber' : 'configure:publisher']
      : Object.hasOwn(RULES, request)
        ? RULES[request]
        : undefined;
  if (!rule) return refuse(request, VideoRoomError.Unauthorized, `${request} is not allowed`);
  if (!rule.roles.includes(role)) {
    return refuse(request, VideoRoomError.Unauthorized, `${request} on a handle that is ${role}`);
  }
  const bad = badKeys(body, rule);
  if (bad) return refuse(request, VideoRoomError.Unauthorized, bad);
  const { room: _room, ...rest } = body;
  return {
    ok: true,
    request,
    body: request === 'start' ? { ...rest, room: inject.room } : rest,
    ...(request === 'leave' ? { leaves: true } : {}),
  };
}

/** A jsep a client may send: an offer or answer with an SDP of sane size. */
export function validJsep(jsep: unknown): jsep is Record<string, unknown> {
  if (!isRecord(jsep)) return false;
  const keys = Object.keys(jsep);
  if (keys.some((k) => !['type', 'sdp', 'trickle', 'e2ee'].includes(k))) return false;
  return (
    (jsep['type'] === 'offer' || jsep['type'] === 'answer') &&
    typeof jsep['sdp'] === 'string' &&
    jsep['sdp'].length <= 64 * 1024
  );
}

/** A trickle candidate (or the list of them, or the end-of-candidates marker) a client may send. */
export function validTrickle(msg: Record<string, unknown>): boolean {
  const one = (c: unknown): boolean =>
    isRecord(c) &&
    (c['completed'] === true ||
      (typeof c['candidate'] === 'string' &&
        c['candidate'].length <= 512 &&
        Object.keys(c).every((k) =>
          ['candidate', 'sdpMid', 'sdpMLineIndex', 'usernameFragment'].includes(k),
        )));
  if (msg['candidate'] !== undefined) return one(msg['candidate']);
  const list = msg['candidates'];
  return Array.isArray(list) && list.length <= 64 && list.every(one);
}
