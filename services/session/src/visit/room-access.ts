/**
 * Room access material. Nothing here is stored: the room secret and PIN (open-visit.ts) and every room token
 * are derived from HAVEN_JANUS_ROOM_KEY, so only this service can produce them, and it can produce them again
 * after a Janus restart (recreating a room's allow-list) or its own restart without keeping secrets anywhere.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';

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
 * The participant id of a principal in a visit: stable (a repeated JoinLobby is the same participant),
 * opaque and URL-safe. The browser joins Janus with `display` = this id, which maps Janus events back.
 */
export function participantIdOf(principal: { kind: string; id: string }): string {
  return `p${createHash('sha256').update(`${principal.kind}:${principal.id}`).digest('hex').slice(0, 24)}`;
}
