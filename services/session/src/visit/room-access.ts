/**
 * Room access material. Nothing here is stored: the room secret and PIN (open-visit.ts) and every room token
 * are derived from HAVEN_JANUS_ROOM_KEY, so only this service can produce them, and it can produce them again
 * after a Janus restart (recreating a room's allow-list) or its own restart without keeping secrets anywhere.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** A fresh admission nonce: 128 random bits, base64url. */
export function newAdmission(): string {
  return randomBytes(16).toString('base64url');
}

/**
 * The room token of one admission: HMAC-SHA256(room key, visit, participant, admission nonce), base64url
 * (256 bits). A new admission gives a new token; a kicked participant's old token is never valid again.
 */
export function roomToken(
  roomKey: string,
  visitId: string,
  participantId: string,
  admission: string,
): string {
  return createHmac('sha256', roomKey)
    .update(`room-token:${visitId}:${participantId}:${admission}`)
    .digest('base64url');
}

/** SHA-256 of a room token, base64url: what events carry. */
export function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

/**
 * The participant id of a principal's device in a visit: stable (a repeated JoinLobby from the same device is the
 * same participant), opaque and URL-safe. A patient's device is their token's session (`sid`, one per redemption
 * of the link): two devices on one link are two participants, each admitted on its own. Staff (and a patient
 * token without `sid`) are one participant per principal. The media proxy publishes every feed of theirs under
 * {@link serverDisplay} (this id and a MAC), which maps Janus events back.
 */
export function participantIdOf(principal: { kind: string; id: string; sessionId?: string }): string {
  const device =
    principal.kind === 'patient' && principal.sessionId !== undefined ? `:${principal.sessionId}` : '';
  return `p${createHash('sha256').update(`${principal.kind}:${principal.id}${device}`).digest('hex').slice(0, 24)}`;
}

const CREDENTIAL_VERSION = 1;

/** What a media credential says (base64url JSON before the MAC). Ids only, no PHI. */
export interface MediaCredentialClaims {
  readonly v: typeof CREDENTIAL_VERSION;
  /** The visit id. */
  readonly visit: string;
  /** The participant id in that visit. */
  readonly pid: string;
  /** The principal's kind (`user`, `patient`) and id: revocations of that subject apply. */
  readonly kind: string;
  readonly sub: string;
  /** The identity session (`sid`) of the token that asked for it, when it had one: its revocation kills this. */
  readonly sid?: string;
  /** Issued at / expires at, seconds since the epoch. */
  readonly iat: number;
  readonly exp: number;
}

function credentialMac(roomKey: string, payload: string, admission: string): Buffer {
  return createHmac('sha256', roomKey).update(`media-credential:v1:${payload}:${admission}`).digest();
}

/**
 * A participant's media credential for one admission: `base64url(claims).base64url(HMAC(room key, claims,
 * admission nonce))`. Only this service can make one; a new admission (or none) makes every older one invalid,
 * because the MAC covers the admission nonce that is current only while the participant stays admitted.
 */
export function issueMediaCredential(
  roomKey: string,
  claims: MediaCredentialClaims,
  admission: string,
): string {
  const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
  return `${payload}.${credentialMac(roomKey, payload, admission).toString('base64url')}`;
}

/** The claims of a credential-shaped string (MAC NOT checked), or undefined. Throws nothing. */
export function readMediaCredential(token: unknown): MediaCredentialClaims | undefined {
  if (typeof token !== 'string' || token.length > 2048) return undefined;
  const [payload, mac, extra] = token.split('.');
  if (!payload || !mac || extra !== undefined) return undefined;
  try {
    const c = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
    const str = (k: string) => typeof c[k] === 'string' && c[k].length > 0 && c[k].length <= 128;
    const num = (k: string) => typeof c[k] === 'number' && Number.isSafeInteger(c[k]);
    if (c['v'] !== CREDENTIAL_VERSION || !str('visit') || !str('pid') || !str('kind') || !str('sub'))
      return undefined;
    if (!num('iat') || !num('exp') || (c['sid'] !== undefined && !str('sid'))) return undefined;
    return c as unknown as MediaCredentialClaims;
  } catch {
    return undefined;
  }
}

/** True when `token`'s MAC is right for this admission nonce (constant time). Throws nothing. */
export function mediaCredentialMatches(roomKey: string, token: string, admission: string): boolean {
  const [payload, mac] = token.split('.');
  if (!payload || !mac) return false;
  const expected = credentialMac(roomKey, payload, admission);
  const got = Buffer.from(mac, 'base64url');
  return got.length === expected.length && timingSafeEqual(got, expected);
}

function displayMac(roomKey: string, visitId: string, participantId: string, admission: string): string {
  return createHmac('sha256', roomKey)
    .update(`display:${visitId}:${participantId}:${admission}`)
    .digest('base64url')
    .slice(0, 22);
}

/**
 * The `display` the media proxy gives every publisher feed of a participant: `<participant id>.<MAC>`, the MAC
 * over the visit, the participant and the admission nonce. Media events are attributed by it: a display without
 * a valid MAC (a client's own choice, another admission's) maps to nobody.
 */
export function serverDisplay(
  roomKey: string,
  visitId: string,
  participantId: string,
  admission: string,
): string {
  return `${participantId}.${displayMac(roomKey, visitId, participantId, admission)}`;
}

/** The participant id a display claims (MAC NOT checked), or undefined. Throws nothing. */
export function displayParticipant(display: string | undefined): string | undefined {
  const m = /^(p[0-9a-f]{24})\.[A-Za-z0-9_-]{22}$/.exec(display ?? '');
  return m?.[1];
}

/** True when `display` is the one this admission was issued. Constant time. Throws nothing. */
export function displayMatches(
  roomKey: string,
  visitId: string,
  participantId: string,
  admission: string,
  display: string,
): boolean {
  const expected = Buffer.from(serverDisplay(roomKey, visitId, participantId, admission));
  const got = Buffer.from(display);
  return got.length === expected.length && timingSafeEqual(got, expected);
}
