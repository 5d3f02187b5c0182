/** Options for {@link generateJanusConfig}. */
export interface JanusConfigOptions {
  /** Directory the .jcfg files are written to (created if missing). */
  dir: string;
  /** Janus API websocket port. */
  wsPort: number;
  /** Admin API websocket port (admin_ws); the admin API is off when omitted. */
  adminWsPort?: number;
  /** Janus API over HTTP (REST) port; the HTTP transport is only loaded when this or adminHttpPort is set. */
  httpPort?: number;
  /** Admin API over HTTP port. */
  adminHttpPort?: number;
  /** admin_secret for the admin API (≥ 8 characters). */
  adminSecret: string;
  /** Enables core token auth with HMAC-SHA1 signed tokens (token_auth_secret). */
  tokenAuthSecret?: string;
  /** Enables core token auth with stored tokens (admin API add_token). Exclusive with tokenAuthSecret. */
  tokenAuth?: boolean;
  /** Directory for recordings (created); rooms name it in rec_dir. */
  recordingsDir: string;
  /** Sample event handler backend (HTTP POST); event handlers are off when omitted. */
  eventHandlerUrl?: string;
  /** HTTP Basic credentials the event handler sends to its backend (user default `janus`). */
  eventHandlerUser?: string;
  eventHandlerPassword?: string;
  /** Event mask for the event handler, default "all". */
  eventHandlerEvents?: string;
  /** Media stats period for event handlers in seconds (default 5). */
  statsPeriod?: number;
  /** nat.ice_enforce_list, e.g. "v0" inside a test network namespace. */
  iceEnforceList?: string;
  /** Address the transports bind to, default 127.0.0.1. */
  bindIp?: string;
  /** media.rtp_port_range, e.g. "20000-20100". */
  rtpPortRange?: string;
  /** Janus debug_level (0-7), default 3. */
  debugLevel?: number;
  /** Log file; when omitted Janus logs to stdout. */
  logFile?: string;
  /** Videoroom admin_key: rooms can only be created with this key. */
  videoroomAdminKey?: string;
  /** Videoroom string_ids (string room and participant ids), default false. */
  stringIds?: boolean;
  /** Janus session_timeout in seconds, default 60. */
  sessionTimeout?: number;
  /** server_name reported by `info`. */
  serverName?: string;
}

/** What {@link generateJanusConfig} wrote. */
export interface JanusConfigResult {
  dir: string;
  configFile: string;
  files: string[];
  wsUrl: string;
  adminWsUrl: string | undefined;
}

/** Options for {@link signJanusToken}. */
export interface SignJanusTokenOptions {
  secret: string;
  /** Expiry as a Date or epoch milliseconds. */
  expiresAt: Date | number;
  /** Plugins the token grants, default ['janus.plugin.videoroom']. */
  plugins?: readonly string[];
}

/**
 * Writes the Janus configuration files for a videoroom-only, websockets-only Janus.
 * Throws TypeError when a port, secret or the token mode is invalid.
 */
export function generateJanusConfig(opts: JanusConfigOptions): JanusConfigResult;

/**
 * Signs a Janus core token: `expiry,janus,plugin…:base64(HMAC-SHA1(secret, data))`.
 * Throws TypeError when the secret is empty or expiresAt is not a valid date.
 */
export function signJanusToken(opts: SignJanusTokenOptions): string;

/**
 * Janus `protected_folders` for a recordings directory: every folder but that one (entries end with `/`; siblings
 * of the recordings path's ancestors are listed as they are now). Throws nothing.
 */
export function protectedFolders(recordingsDir: string): string[];

/** A random 32-byte base64url secret. */
export function randomJanusSecret(): string;

/** Where the Debian janus package keeps its modules. */
export const JANUS_LIB_DIRS: Readonly<{
  plugins: string;
  transports: string;
  events: string;
  loggers: string;
}>;
