/**
 * The gateway's JSON as the browser reads it, from the gateway's import-free `*-view.ts` modules (ADR 0010).
 */
export type {
  IceServerView as IceServer,
  MediaView as MediaCredentials,
} from '../../../services/gateway/src/media-view';
