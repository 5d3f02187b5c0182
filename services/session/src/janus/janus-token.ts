import { createHmac } from 'node:crypto';

/**
 * Signs a Janus core token for `token_auth_secret` mode: `expiry,janus,plugin[,plugin]:base64(HMAC-SHA1)`.
 * Janus refuses every API request (session create, attach) without a valid, unexpired one.
 */
export function signJanusToken(options: {
  secret: string;
  expiresAt: Date;
  plugins?: readonly string[];
}): string {
  const plugins = options.plugins ?? ['janus.plugin.videoroom'];
  const data = [Math.floor(options.expiresAt.getTime() / 1000), 'janus', ...plugins].join(',');
  return `${data}:${createHmac('sha1', options.secret).update(data).digest('base64')}`;
}
