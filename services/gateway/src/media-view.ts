/**
 * What a page needs to join a visit's media room (`POST /api/visits/:id/media`, `POST /api/patient/media`). Types
 * only and no imports: the browser app (web/src/api/types.ts) imports this file as well, so the wire shape has one
 * definition.
 */

/** An ICE server handed out with the media credential (username and credential only for TURN). */
export interface IceServerView {
  readonly urls: readonly string[];
  readonly username?: string;
  readonly credential?: string;
}

/**
 * Where the media websocket is (the gateway's own `/api/media`, `?as=patient` for the patient cookie) and this
 * admission's media credential (janus.js's `token`). No Janus address, token, room PIN or room token.
 */
export interface MediaView {
  readonly serverUrl: string;
  readonly mediaCredential: string;
  readonly participantId: string;
  readonly expireTime: string | null;
  readonly iceServers: readonly IceServerView[];
}
