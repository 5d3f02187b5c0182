/**
 * A list of recordings with a player: the clinician's (their visits', a finishing one with its processing
 * percent) and the patient's own (when the clinic allows; hidden when it does not). Play asks the gateway for a
 * short-lived grant and the <video> plays the decrypted WebM through the range route, so seeking works; each
 * range is recorded as a view before its bytes are sent.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import { ApiError, api } from '../api/client';
import { onRecordingMessage } from './recording-bus';
import { requestPlayback, type RecordingItem, type RecordingPage } from './recording-api';
import './recording.css';
import { Note } from '../ui/note';

/** Props of {@link RecordingsList}. */
export interface RecordingsListProps {
  /** GET: a page of recordings (`/api/recordings`, `/api/recordings?visit=…`, `/api/patient/recordings`). */
  readonly listUrl: string;
  readonly role: 'clinician' | 'patient';
  readonly title?: string;
  /** The heading's level: 2 on a page, 3 in a panel beside a visit. */
  readonly headingLevel?: 2 | 3;
  /** How often the list is read while a recording is processing or one is expected (ms). */
  readonly pollMs?: number;
  readonly load?: (url: string) => Promise<RecordingPage>;
  readonly play?: typeof requestPlayback;
}

/** "3:07" */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${rest}` : `${m}:${rest}`;
}

const when = (iso: string | null) =>
  iso ? new Date(iso).toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' }) : 'Unknown time';

function stateText(r: RecordingItem): string {
  switch (r.state) {
    case 'recording':
      return 'Recording…';
    case 'processing':
      return `Processing… ${r.percent}%`;
    case 'available':
      return formatDuration(r.durationSeconds);
    case 'failed':
      return 'Could not be processed';
    case 'deleted':
      return 'Deleted';
    default:
      return '';
  }
}

/** How long the list keeps polling after a recording stopped (a patient's appears once it is playable). */
const EXPECT_MS = 90_000;

/** The list and its player. */
export function RecordingsList({
  listUrl,
  role,
  title = role === 'patient' ? 'Your recordings' : 'Recordings',
  headingLevel = 2,
  pollMs = 2000,
  load = (url) => api<RecordingPage>('GET', url),
  play = requestPlayback,
}: RecordingsListProps) {
  const [items, setItems] = useState<readonly RecordingItem[] | null>(null);
  const [hidden, setHidden] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [playing, setPlaying] = useState<{ id: string; url: string; label: string } | null>(null);
  const [expectUntil, setExpectUntil] = useState(0);
  const loadRef = useRef(load);

  const refresh = useCallback(async () => {
    try {
      const page = await loadRef.current(listUrl);
      setItems(page.recordings);
      setError(null);
    } catch (err) {
      // A clinic that does not let patients see recordings: no list at all.
      if (err instanceof ApiError && (err.status === 403 || err.status === 401)) setHidden(true);
      else setError(err instanceof Error ? err.message : String(err));
    }
  }, [listUrl]);

  useEffect(() => {
    void refresh();
    return onRecordingMessage((m) => {
      if (m.state === 'off') setExpectUntil(Date.now() + EXPECT_MS);
      void refresh();
    });
  }, [refresh]);

  const busy = items?.some((r) => r.state === 'processing' || r.state === 'recording') ?? false;
  useEffect(() => {
    if (!busy && expectUntil < Date.now()) return;
    const t = setInterval(() => {
      if (!busy && expectUntil < Date.now()) clearInterval(t);
      void refresh();
    }, pollMs);
    return () => clearInterval(t);
  }, [busy, expectUntil, pollMs, refresh]);

  const start = async (r: RecordingItem) => {
    setError(null);
    try {
      const grant = await play(r.id, role === 'patient' ? 'patient_request' : 'treatment');
      setPlaying({ id: r.id, url: grant.url, label: `Recording of ${when(r.startTime)}` });
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  };

  if (hidden) return null;
  return (
    <section className="recordings" aria-labelledby={`recordings-title-${role}`}>
      {headingLevel === 3 ? (
        <h3 id={`recordings-title-${role}`}>{title}</h3>
      ) : (
        <h2 id={`recordings-title-${role}`}>{title}</h2>
      )}
      {items === null && error === null ? <p className="muted">Loading…</p> : null}
      {items?.length === 0 ? <p className="recordings-empty">No recordings yet.</p> : null}
      {items && items.length > 0 ? (
        <ul className="recordings-list">
          {items.map((r) => (
            <li key={r.id} className="recordings-row" data-state={r.state} data-recording={r.id}>
              <span className="recordings-when">{when(r.startTime)}</span>
              <span className="recordings-state">
                {r.state === 'processing' ? (
                  <progress max={100} value={r.percent} aria-label="Processing" />
                ) : null}
                {stateText(r)}
                {r.legalHold ? ' · Legal hold' : ''}
                {r.partial ? ' · Partial: the media server stopped during the recording' : ''}
              </span>
              {r.state === 'available' ? (
                <button
                  type="button"
                  className="button button-quiet"
                  aria-label={`Play the recording of ${when(r.startTime)}`}
                  onClick={() => void start(r)}
                >
                  Play
                </button>
              ) : null}
            </li>
          ))}
        </ul>
      ) : null}
      <Note kind="error">{error}</Note>
      {playing ? (
        <figure className="recordings-player">
          <video
            key={playing.url}
            className="recordings-video"
            src={playing.url}
            controls
            controlsList="nodownload"
            autoPlay
            muted
            playsInline
            preload="metadata"
            aria-label={playing.label}
            data-recording={playing.id}
          />
          <figcaption>
            {playing.label}. Every viewing is logged.{' '}
            <button type="button" className="button button-quiet" onClick={() => setPlaying(null)}>
              Close the player
            </button>
          </figcaption>
        </figure>
      ) : null}
    </section>
  );
}
