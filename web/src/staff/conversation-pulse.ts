/**
 * A live conversation is activity: while the clinician's video visit is live and media from another participant
 * keeps arriving, the page tells the gateway's live channel it is active and refreshes the session (identity's
 * idle deadline moves only on a refresh), three times per idle timeout. Alone in the room, or with no video,
 * nothing is sent, so an unattended workstation still signs out. In a conversation the page asks for the idle
 * timeout again every 30 s: an admin may shorten it (identity and the gateway give a page the new timeout from
 * the change, so it pulses in time).
 */

/** What the pulse reads and tells (the console wires the visit, the live channel and the API client). */
export interface PulsePorts {
  /** Media from someone else arrived since the last call (havenVisit.inConversation()). */
  readonly inConversation: () => Promise<boolean>;
  /** Tells the gateway's live channel the user is active (nothing when the channel is not open). */
  readonly activity: () => void;
  /** Refreshes the session; rejects when refused (the live channel then reports the sign-out). */
  readonly refresh: () => Promise<unknown>;
  /** When the page last refreshed the session successfully (ms since the epoch; 0 when never). */
  readonly lastRefreshAt: () => number;
  /** The idle timeout in force, s (GET /api/me); undefined when it cannot be read. */
  readonly idleTimeoutSec: () => Promise<number | undefined>;
  readonly now?: () => number;
}

/** How often the conversation pulse samples the call, ms. */
export const CONVERSATION_SAMPLE_MS = 1000;
/** The pulse period when the server did not say its idle timeout (short enough for any sane timeout). */
const UNKNOWN_IDLE_PULSE_MS = 60_000;
/** How often a page in a conversation asks for the idle timeout (an admin may shorten it to a minute). */
const IDLE_TIMEOUT_RECHECK_MS = 30_000;

/** The pulse period for an idle timeout: a third of it, or {@link UNKNOWN_IDLE_PULSE_MS} when unknown. */
export function pulsePeriodMs(idleTimeoutSec: number | undefined): number {
  return idleTimeoutSec !== undefined && Number.isFinite(idleTimeoutSec) && idleTimeoutSec > 0
    ? Math.max(CONVERSATION_SAMPLE_MS, (idleTimeoutSec * 1000) / 3)
    : UNKNOWN_IDLE_PULSE_MS;
}

/** Starts the pulse for a page whose idle timeout is `idleTimeoutSec` (as /api/me said). Returns a stop function. */
export function startConversationPulse(idleTimeoutSec: number | undefined, ports: PulsePorts): () => void {
  const now = ports.now ?? Date.now;
  let periodMs = pulsePeriodMs(idleTimeoutSec);
  let lastRecheck = now();
  let lastPulse = 0;
  let sampling = false;
  const timer = setInterval(() => {
    if (sampling) return;
    sampling = true;
    void (async () => {
      try {
        if (!(await ports.inConversation())) return;
        if (now() - lastRecheck >= IDLE_TIMEOUT_RECHECK_MS) {
          lastRecheck = now();
          const sec = await ports.idleTimeoutSec().catch(() => undefined);
          if (sec !== undefined) periodMs = pulsePeriodMs(sec);
        }
        // Half a sample of slack, so that the pulse keeps its period instead of slipping to the next sample.
        const due = periodMs - CONVERSATION_SAMPLE_MS / 2;
        if (now() - lastPulse < due) return;
        lastPulse = now();
        ports.activity();
        // Unless the page refreshed lately anyway (an expired token); a refused refresh means the session is
        // over, and the live channel reports the sign-out.
        if (now() - ports.lastRefreshAt() >= due) await ports.refresh().catch(() => undefined);
      } finally {
        sampling = false;
      }
    })();
  }, CONVERSATION_SAMPLE_MS);
  return () => clearInterval(timer);
}
