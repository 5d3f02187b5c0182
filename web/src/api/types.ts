/**
 * The gateway's JSON, as the browser reads it (services/gateway/src/visit-view.ts and routes/). Written out here
 * rather than imported: the gateway's modules pull in Node and gRPC types (ADR 0010).
 */

/** An ICE server handed out with the media credential. */
export interface IceServer {
  readonly urls: string | readonly string[];
  readonly username?: string;
  readonly credential?: string;
}

/** POST /api/visits/:id/media and /api/patient/media: where the media websocket is, and the admission's token. */
export interface MediaCredentials {
  readonly serverUrl: string;
  readonly mediaCredential: string;
  readonly participantId: string;
  readonly expireTime: string | null;
  readonly iceServers: readonly IceServer[];
}
