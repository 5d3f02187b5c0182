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

/**
 * A source of core tokens for a long-lived client (the media proxy): Janus checks the core token on every
 * request, so each token outlives any request by an hour (valid two hours, renewed after one).
 */
export function coreTokenSource(secret: string, now: () => number = Date.now): () => string {
  let core = { token: '', renewAt: 0 };
  return () => {
    const at = now();
    if (at >= core.renewAt) {
      core = {
        token: signJanusToken({ secret, expiresAt: new Date(at + 2 * 3600_000) }),
        renewAt: at + 3600_000,
      };
    }
    return core.token;
  };
}
