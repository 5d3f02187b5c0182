/**
 * A live conversation is activity: while the clinician's video visit is live and media from another participant
 * keeps arriving, the page tells the gateway's live channel it is active and refreshes the session (identity's
 * idle deadline moves only on a refresh), three times per idle timeout. Alone in the room, or with no video,
 * nothing is sent, so an unattended workstation still signs out. In a conversation the page asks for the idle
 * timeout again every 30 s: an admin may shorten it (identity and the gateway give a page the new timeout from
 * the change, so it pulses in time).
 * A staff member's own input (a click, a key, a scroll), on any screen, is activity for both clocks in the same
 * way: identity's idle deadline moves only on a refresh, and the live channel alone tells the gateway of input at
 * most every 30 s, so without this someone working in the app was signed out by identity one idle timeout after
 * the last refresh whenever the idle timeout is shorter than the access token's life (a clinic may set one
 * minute; tokens live five).
 */

/** What the pulse reads and tells (the app wires the visit, the live channels and the API client). */
export interface PulsePorts {
  /** Media from someone else arrived since the last call (havenVisit.inConversation()); none: input only. */
  readonly inConversation?: () => Promise<boolean>;
  /** Tells the gateway's live channel the user is active (nothing when the channel is not open). */
  readonly activity: () => void;
  /** Refreshes the session; rejects when refused (the live channel then reports the sign-out). */
  readonly refresh: () => Promise<unknown>;
  /** When the page last refreshed the session successfully (ms since the epoch; 0 when never). */
  readonly lastRefreshAt: () => number;
  /** The idle timeout in force, s (GET /api/me); undefined when it cannot be read. */
  readonly idleTimeoutSec: () => Promise<number | undefined>;
  /** Where the user's input is heard (the page's window); none: input is not counted. */
  readonly inputs?: Pick<EventTarget, 'addEventListener' | 'removeEventListener'>;
  readonly now?: () => number;
}

/** The input that counts as activity (the live channel listens for the same). */
const INPUT_EVENTS = ['pointerdown', 'keydown', 'scroll'] as const;

/** How often the conversation pulse samples the call, ms. */
export const CONVERSATION_SAMPLE_MS = 1000;
/** The pulse period when the server did not say its idle timeout (short enough for any sane timeout). */
const UNKNOWN_IDLE_PULSE_MS = 60_000;
/** How often a page in a conversation or in use asks for the idle timeout (an admin may shorten it to a minute). */
const IDLE_TIMEOUT_RECHECK_MS = 30_000;

/** The pulse period for an idle timeout: a third of it, or {@link UNKNOWN_IDLE_PULSE_MS} when unknown. */
export function pulsePeriodMs(idleTimeoutSec: number | undefined): number {
  return idleTimeoutSec !== undefined && Number.isFinite(idleTimeoutSec) && idleTimeoutSec > 0
    ? Math.max(CONVERSATION_SAMPLE_MS, (idleTimeoutSec * 1000) / 3)
    : UNKNOWN_IDLE_PULSE_MS;
}

/**
 * Starts the pulse for a page whose idle timeout is `idleTimeoutSec` (as /api/me said), and counts the input
 * heard on `ports.inputs`. Returns a stop function. Nothing it sends is waited for by the next sample: a refresh or
 * a look at the timeout that takes long (a loaded gateway, a stalled connection) holds neither the live channel's
 * activity nor the next sample, and a refresh is due again a third of the timeout after the last one was *sent*
 * (identity's clock moved somewhere between sending and the answer, so the answer's time would flatter it). One
 * refresh at a time: the refresh token rotates, and identity takes the one being rotated back only once, within a
 * short grace. A refresh that does not answer is given up after REFRESH_TIMEOUT_MS and tried once more
 * (`refreshSession`), so a hung one holds the next ones back for seconds, not for good.
 */
export function startActivityPulse(idleTimeoutSec: number | undefined, ports: PulsePorts): () => void {
  const now = ports.now ?? Date.now;
  let periodMs = pulsePeriodMs(idleTimeoutSec);
  let lastRecheck = now();
  let rechecking = false;
  let lastActivity = 0;
  let lastRefreshTry = 0;
  let refreshing = false;
  let sampling = false;

  const recheckTimeout = (): void => {
    if (rechecking || now() - lastRecheck < IDLE_TIMEOUT_RECHECK_MS) return;
    rechecking = true;
    lastRecheck = now();
    ports
      .idleTimeoutSec()
      .then((sec) => {
        if (sec !== undefined) periodMs = pulsePeriodMs(sec);
      })
      .catch(() => undefined)
      .finally(() => {
        rechecking = false;
      });
  };

  const pulse = (): void => {
    // Half a sample of slack, so that the pulse keeps its period instead of slipping to the next sample.
    const due = periodMs - CONVERSATION_SAMPLE_MS / 2;
    if (now() - lastActivity >= due) {
      lastActivity = now();
      ports.activity();
    }
    // Unless the page refreshed lately anyway (an expired token); a refused refresh means the session is over,
    // and the live channel reports the sign-out.
    if (refreshing || now() - Math.max(lastRefreshTry, ports.lastRefreshAt()) < due) return;
    refreshing = true;
    lastRefreshTry = now();
    ports
      .refresh()
      .catch(() => undefined)
      .finally(() => {
        refreshing = false;
      });
  };

  const { inConversation } = ports;
  const timer = inConversation
    ? setInterval(() => {
        if (sampling) return;
        sampling = true;
        inConversation()
          .then((talking) => {
            if (!talking) return;
            recheckTimeout();
            pulse();
          })
          .catch(() => undefined)
          .finally(() => {
            sampling = false;
          });
      }, CONVERSATION_SAMPLE_MS)
    : undefined;
  const input = (): void => {
    recheckTimeout();
    pulse();
  };
  for (const e of INPUT_EVENTS) ports.inputs?.addEventListener(e, input, { passive: true });
  return () => {
    clearInterval(timer);
    for (const e of INPUT_EVENTS) ports.inputs?.removeEventListener(e, input);
  };
}
