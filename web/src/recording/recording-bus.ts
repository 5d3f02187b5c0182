/**
 * The server-pushed recording messages (`{type: "recording"}` on the live channel) for the recording parts of the
 * page: the page that owns the live channel publishes them, the visit screen's recording controls and the
 * recordings list subscribe. One bus per page.
 */

import type { RecordingLive as RecordingLiveMessage } from '../../../services/gateway/src/live-view';

/** What the gateway pushes when a recording is asked for, starts or stops (services/gateway/src/ws.ts). */
export type { RecordingLiveMessage };

type Listener = (message: RecordingLiveMessage) => void;
const listeners = new Set<Listener>();

/** The message as a recording message, or undefined when it is not one. */
export function asRecordingMessage(message: unknown): RecordingLiveMessage | undefined {
  const m = message as Partial<RecordingLiveMessage> | null;
  if (!m || m.type !== 'recording') return undefined;
  if (m.state !== 'requested' && m.state !== 'on' && m.state !== 'off') return undefined;
  return m as RecordingLiveMessage;
}

/** Hands a live message on to the subscribers; anything but a recording message is ignored. */
export function publishRecordingMessage(message: unknown): void {
  const m = asRecordingMessage(message);
  if (!m) return;
  for (const l of [...listeners]) l(m);
}

/** Subscribes; returns the unsubscribe function. */
export function onRecordingMessage(listener: Listener): () => void {
  listeners.add(listener);
  return () => {
    listeners.delete(listener);
  };
}
