/**
 * The clinician's note in the patient's waiting room: "running late" with the minutes, or what they typed, and the
 * patient's place in the queue when the clinician chose to show it. Read from GET /api/patient/lobby-notice when
 * the page loads and whenever the live channel says `lobby-notice` (`version` changes); while the place is shown
 * it is read again every minute. The text is shown as text, never as markup.
 */
import { useEffect, useState } from 'react';
import { api } from '../api/client';
import './lobby.css';
import type {
  LobbyNoticeAnswerView,
  LobbyNoticeView as LobbyNotice,
} from '../../../services/gateway/src/lobby-notice-view';

/** A note as the gateway answers it (services/gateway/src/lobby-notice-view.ts). */
export type { LobbyNotice };

/** What the note says, in words (pure). */
export function noticeLines(n: LobbyNotice): string[] {
  const lines: string[] = [];
  if (n.kind === 'running_late') {
    lines.push(
      `Your clinician is running about ${n.delayMinutes} minute${n.delayMinutes === 1 ? '' : 's'} late.`,
    );
  } else if (n.kind === 'typed') {
    lines.push(n.text);
    if (n.delayMinutes > 0) lines.push(`Estimated wait: about ${n.delayMinutes} minutes.`);
  }
  if (n.kind !== 'none' && n.showPosition && n.position > 0) {
    lines.push(n.position === 1 ? 'You are next.' : `You are number ${n.position} in the queue.`);
  }
  return lines;
}

/** Reads the note of the patient's visit. */
const loadNotice = (): Promise<LobbyNotice> =>
  api<LobbyNoticeAnswerView>('GET', '/api/patient/lobby-notice').then((r) => r.notice);

/** The note box of the waiting room (nothing when there is no note). */
export function WaitingNotice({
  version,
  load = loadNotice,
}: {
  version: number;
  load?: () => Promise<LobbyNotice>;
}) {
  const [notice, setNotice] = useState<LobbyNotice | null>(null);
  useEffect(() => {
    let stopped = false;
    const read = () =>
      load().then(
        (n) => {
          if (!stopped) setNotice(n);
        },
        () => undefined,
      );
    void read();
    const timer = setInterval(() => void read(), 60_000);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, [version, load]);
  const lines = notice ? noticeLines(notice) : [];
  return (
    <div id="waiting-notice" className="waiting-notice" role="status" aria-live="polite">
      {lines.length > 0 ? (
        <>
          <p className="waiting-notice-title">Message from your clinician</p>
          {lines.map((line, i) => (
            <p key={i} className="waiting-notice-line">
              {line}
            </p>
          ))}
        </>
      ) : null}
    </div>
  );
}
