/**
 * The clinician's console: today's visits (live: who is waiting), then one visit with its waiting room, the
 * people in it, lock/unlock/end, and the video (the visit screen, web/src/visit). Other features add panels
 * through ./panels.ts.
 */
import { LobbyAlerts, LobbyNoteForm } from '../lobby/lobby-alerts';
import { useCallback, useEffect, useMemo, useReducer, useRef, useState } from 'react';
import { api, refreshUnlessRefused } from '../api/client';
import { openLive, type LiveChannel } from '../live/live-channel';
import { publishRecordingMessage } from '../recording/recording-bus';
import { havenVisit } from '../visit/mount';
import { VisitScreen } from '../visit/visit-screen';
import { consoleState, initialConsole, type ConsoleEvent, type OpenVisit } from './console-state';
import { consolePanels, visitPanels } from './panels';
import { guarded, useSession, type StaffSession } from './session';
import { timeOf } from './time';
import type {
  Participant,
  PatientNameView,
  StaffLiveMessage,
  VisitReadView,
  VisitSummary,
  VisitSummaryListView,
} from './types';
import { Note } from '../ui/note';

const STATUS_LABELS: Readonly<Record<string, string>> = {
  open: 'Open',
  in_progress: 'In progress',
  ended: 'Ended',
};

const DEVICE_WORDS = ['', '', 'second', 'third', 'fourth', 'fifth'];

/** "Maria Lopez (patient) — second device", or "Patient 3F2A" before the name is read. */
export function participantLabel(
  p: Pick<Participant, 'id' | 'kind' | 'device'>,
  patientName: string | null,
): string {
  // Each redemption of a patient link is its own lobby entry, admitted on its own.
  const word = DEVICE_WORDS[p.device];
  const device = p.device > 1 ? (word ? ` — ${word} device` : ` — device ${p.device}`) : '';
  if (p.kind === 'patient' && patientName) return `${patientName} (patient)${device}`;
  return `${KIND_WORDS[p.kind] ?? 'Guest'} ${p.id.slice(-4).toUpperCase()}${device}`;
}

/** Guests' roles as the lists name them (web/src/guests invites them). */
const KIND_WORDS: Readonly<Record<string, string>> = {
  patient: 'Patient',
  clinician: 'Clinician',
  interpreter: 'Interpreter',
  family: 'Family member',
};

/** Everyone but the hosts (the clinician themself): the patient's devices and the guests, a guest clinician too. */
/**
 * The people a host admits, denies or removes: everyone but the hosts and the clinician themself (who, after
 * handing host rights over, is no longer a host but still not someone to remove).
 */
export const othersIn = (ps: readonly Participant[]) =>
  ps.filter((p) => !p.self && (p.kind !== 'clinician' || !p.host));
const others = othersIn;

/** One open visit: the people, the controls and the video. */
function VisitCard({
  visit,
  summary,
  shown,
  live,
  onBack,
  readVisit,
}: {
  visit: OpenVisit;
  summary: VisitSummary | undefined;
  shown: boolean;
  live: () => LiveChannel | null;
  onBack: () => void;
  /** Reads the visit again (the console keeps what a push said meanwhile). */
  readVisit: (visitId: string, setError?: (message: string) => void) => Promise<unknown>;
}) {
  const session = useSession();
  const [error, setError] = useState<string | null>(null);
  /** The video run in this card: its key, or null when there is none on the page. */
  const [run, setRun] = useState<number | null>(null);
  const [onVideo, setOnVideo] = useState(false);
  const runs = useRef(0);
  const title = useRef<HTMLHeadingElement>(null);
  const id = visit.id;

  useEffect(() => {
    if (shown) title.current?.focus();
  }, [shown, id]);

  const refresh = useCallback(() => readVisit(id, setError), [readVisit, id]);

  const act = async (path: string, body: Record<string, string> = {}) => {
    setError(null);
    const done = await guarded(session, () => api('POST', `/api/visits/${id}/${path}`, body), setError);
    if (done !== undefined) await refresh();
  };

  const media = useMemo(
    () => ({
      mediaUrl: `/api/visits/${id}/media`,
      leaveUrl: `/api/visits/${id}/leave`,
      role: 'clinician' as const,
      // Record / Stop, the consent dialog and the indicator in the visit screen (web/src/recording).
      recording: {
        stateUrl: `/api/visits/${id}`,
        actionsUrl: `/api/visits/${id}/recording`,
        listUrl: `/api/recordings?visit=${encodeURIComponent(id)}`,
      },
    }),
    [id],
  );
  const onState = useMemo(
    () =>
      run === null
        ? undefined
        : havenVisit.track({
            ...media,
            onFinished: (status) => {
              setOnVideo(false);
              // The console says "This visit has ended." itself: once is enough.
              if (status === 'ended') setRun(null);
            },
          }),
    [run, media],
  );

  const joinVideo = () => {
    live()?.activity();
    runs.current += 1;
    setRun(runs.current);
    setOnVideo(true);
  };

  const ended = visit.status === 'ended';
  const lockAction = visit.locked ? 'unlock' : 'lock';
  const lobby = others(visit.participants).filter((p) => p.state === 'lobby');
  const admitted = others(visit.participants).filter((p) => p.state === 'admitted');
  const label = (p: Participant) => participantLabel(p, visit.patientName);
  const action = (text: string, path: string, p: Participant, cls = 'button-quiet') => (
    <button
      type="button"
      className={`button ${cls}`}
      aria-label={`${text} ${label(p)}`}
      onClick={() => void act(path, { participantId: p.id })}
    >
      {text}
    </button>
  );
  const at = timeOf(summary?.startTime);

  return (
    <section id="visit" className="card visit-card" aria-labelledby="visit-title" hidden={!shown}>
      <div className="visit-head">
        <button type="button" id="visit-back" className="button button-quiet" onClick={onBack}>
          ← All visits
        </button>
        <div className="visit-heading">
          <h2 id="visit-title" tabIndex={-1} ref={title}>
            {visit.patientName
              ? `Visit with ${visit.patientName} at ${at}`
              : summary
                ? `Visit at ${at}`
                : 'Visit'}
          </h2>
          <p id="visit-state" className="lead" role="status">
            {ended
              ? 'This visit has ended.'
              : `${STATUS_LABELS[visit.status] ?? visit.status}${visit.locked ? ' · Locked: nobody new can be admitted' : ''}`}
          </p>
        </div>
        {ended ? null : (
          <div className="actions">
            <button
              type="button"
              id={`visit-${lockAction}`}
              className="button button-quiet"
              onClick={() => void act(lockAction)}
            >
              {visit.locked ? 'Unlock visit' : 'Lock visit'}
            </button>
            <button
              type="button"
              id="visit-end"
              className="button button-danger"
              onClick={() => {
                if (window.confirm('End this visit for everyone? The patient link stops working.'))
                  void act('end');
              }}
            >
              End visit
            </button>
          </div>
        )}
      </div>
      <Note id="visit-error" kind="error">
        {error}
      </Note>
      {/* The video first (beside the lists on a wide screen, above them on a phone). */}
      <div className="visit-body">
        <div className="visit-media">
          {ended || onVideo ? null : (
            <div className="actions">
              <button type="button" id="join-video" className="button button-primary" onClick={joinVideo}>
                Join video
              </button>
            </div>
          )}
          <div id="visit-stage">
            {run !== null && onState ? (
              <VisitScreen
                key={run}
                {...media}
                chat={{ visitId: id }}
                names={{ patient: visit.patientName }}
                onState={onState}
              />
            ) : null}
          </div>
        </div>
        <div className="visit-people">
          <h3>Waiting room</h3>
          <ul id="lobby" className="list" aria-live="polite">
            {lobby.map((p) => (
              <li key={p.id} className="row">
                <div className="row-main">
                  <strong>{label(p)}</strong>
                  <span> is waiting</span>
                </div>
                <div className="row-actions">
                  {action('Admit', 'admit', p, 'button-primary')}
                  {action('Deny', 'deny', p)}
                </div>
              </li>
            ))}
          </ul>
          <Note id="lobby-empty" kind="hint" shown={lobby.length === 0}>
            Nobody is waiting.
          </Note>
          {ended ? null : <LobbyNoteForm visitId={id} />}
          <h3>In the visit</h3>
          <ul id="admitted" className="list">
            {admitted.map((p) => (
              <li key={p.id} className="row">
                <div className="row-main">
                  {/* One piece, the separator held to the name: a piece of its own would wrap to "· on video". */}
                  <span>
                    <strong>{label(p)}</strong>
                    {p.inMedia ? '\u00a0· on\u00a0video' : '\u00a0· admitted'}
                  </span>
                </div>
                <div className="row-actions">{action('Remove', 'kick', p)}</div>
              </li>
            ))}
          </ul>
          <Note id="admitted-empty" kind="hint" shown={admitted.length === 0}>
            Nobody is in the visit.
          </Note>
          {visitPanels.map(({ id: key, component: P }) => (
            <P
              key={key}
              visitId={id}
              status={visit.status}
              patientName={visit.patientName}
              onVideo={onVideo}
              participants={visit.participants}
              refresh={() => void refresh()}
            />
          ))}
        </div>
      </div>
    </section>
  );
}

/** A lobby entry's device check in words ("Camera ✓ · Microphone ✓ · Speaker ✓"), or null when not reported. */
export function deviceCheckText(d: Participant['deviceCheck']): string | null {
  if (!d) return null;
  if (d.permission === 'denied') return 'Camera and microphone blocked by the browser';
  const mark = (ok: boolean) => (ok ? '✓' : '✗');
  return `Camera ${mark(d.camera)} · Microphone ${mark(d.microphone)} · Speaker ${mark(d.speaker)}`;
}

/** "just now", "1 min", "12 min" since an ISO time. */
export function waitedFor(joinTime: string | null, now: number): string {
  const since = joinTime ? Date.parse(joinTime) : NaN;
  if (!Number.isFinite(since)) return '';
  const min = Math.floor((now - since) / 60_000);
  return min < 1 ? 'just now' : `${min} min`;
}

/**
 * Who is waiting now, across today's visits: the patient by name (read for treatment, as the visit does), how
 * long they have waited, and Admit in one click.
 */
function WaitingList({
  visits,
  lobbies,
  names,
  onAdmit,
}: {
  visits: readonly VisitSummary[];
  lobbies: Readonly<Record<string, readonly Participant[]>>;
  names: Readonly<Record<string, string>>;
  onAdmit: (visitId: string, p: Participant) => Promise<void>;
}) {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 15_000);
    return () => clearInterval(timer);
  }, []);
  const waiting = visits.flatMap((v) =>
    v.status === 'ended'
      ? []
      : others(lobbies[v.id] ?? [])
          .filter((p) => p.state === 'lobby')
          .map((p) => ({ v, p, label: participantLabel(p, names[v.patientId] ?? null) })),
  );
  waiting.sort((a, b) => (a.p.joinTime ?? '').localeCompare(b.p.joinTime ?? ''));
  if (waiting.length === 0) return null;
  return (
    <div id="waiting-now" className="waiting-now">
      <h3>Waiting now</h3>
      <ul className="list">
        {waiting.map(({ v, p, label }) => {
          const waited = waitedFor(p.joinTime, now);
          return (
            <li key={p.id} className="row">
              <div className="row-main">
                <span>
                  <strong>{label}</strong>
                  {`\u00a0· visit at ${timeOf(v.startTime)}`}
                </span>
                {waited ? <span className="badge">{`waiting ${waited}`}</span> : null}
                {/* On a line of its own: after the badge, a leading separator would read as a stray dot. */}
                {deviceCheckText(p.deviceCheck) ? (
                  <span className="device-check">{deviceCheckText(p.deviceCheck)}</span>
                ) : null}
              </div>
              <div className="row-actions">
                <button
                  type="button"
                  className="button button-primary"
                  aria-label={`Admit ${label} to the visit at ${timeOf(v.startTime)}`}
                  onClick={() => void onAdmit(v.id, p)}
                >
                  Admit
                </button>
              </div>
            </li>
          );
        })}
      </ul>
    </div>
  );
}

function useLive(session: StaffSession, onMessage: (m: StaffLiveMessage) => void) {
  const [status, setStatus] = useState('');
  const live = useRef<LiveChannel | null>(null);
  const handler = useRef(onMessage);
  useEffect(() => {
    handler.current = onMessage;
  });
  useEffect(() => {
    const channel = openLive<StaffLiveMessage>({
      refresh: refreshUnlessRefused,
      onStatus: (s) =>
        setStatus(
          s === 'open'
            ? 'Live updates on.'
            : s === 'failed'
              ? 'Live updates are off. Reload the page.'
              : 'Connecting…',
        ),
      onSignedOut: (reason) => session.signedOut(reason),
      onMessage: (m) => handler.current(m),
    });
    live.current = channel;
    return () => {
      channel.close();
      live.current = null;
    };
  }, [session]);
  return { status, live };
}

/**
 * Reads for the console: says when the read started (`counter` numbers them) and what it answered, or that it
 * failed (then `onError` hears why).
 */
async function readFor<T>(
  session: StaffSession,
  dispatch: (event: ConsoleEvent) => void,
  counter: { current: number },
  visitId: string | null,
  call: () => Promise<T>,
  answer: (read: number, r: T) => ConsoleEvent,
  onError?: (message: string) => void,
): Promise<T | undefined> {
  counter.current += 1;
  const read = counter.current;
  dispatch({ type: 'ReadStarted', read, visitId });
  const r = await guarded(session, call, onError);
  dispatch(r === undefined ? { type: 'ReadDropped', read } : answer(read, r));
  return r;
}

/** The clinician's console. */
export function Console() {
  const session = useSession();
  /** Today's visits, who is in each visit with someone waiting, and the open visit: reads and pushes. */
  const [data, dispatch] = useReducer(consoleState, initialConsole);
  const { visits, lobbies, open } = data;
  const [error, setError] = useState<string | null>(null);
  const [shown, setShown] = useState(false);
  /** The patients' names (read for treatment). */
  const [names, setNames] = useState<Readonly<Record<string, string>>>({});
  const current = shown ? open?.id : undefined;

  // Each read says when it started, so that a push that arrives before its answer is not undone by it.
  const reads = useRef(0);
  const readVisit = useCallback(
    (visitId: string, onError?: (message: string) => void) =>
      readFor(
        session,
        dispatch,
        reads,
        visitId,
        () => api<VisitReadView>('GET', `/api/visits/${visitId}`),
        (id, r) => ({ type: 'VisitRead', read: id, visit: r.visit }),
        onError,
      ),
    [session],
  );
  const loadVisits = useCallback(
    () =>
      readFor(
        session,
        dispatch,
        reads,
        null,
        () => api<VisitSummaryListView>('GET', '/api/visits'),
        (id, r) => ({ type: 'VisitsRead', read: id, visits: r.visits }),
        setError,
      ),
    [session],
  );

  const reloadVisits = () => {
    setError(null);
    void loadVisits();
  };

  const { status, live } = useLive(session, (m) => {
    dispatch({ type: 'Pushed', message: m });
    if ((m.type === 'visit' || m.type === 'lobby') && !visits?.some((v) => v.id === m.visitId)) {
      reloadVisits();
    } else if (m.type === 'recording' && m.visitId === open?.id) {
      // The open visit's recording controls and recordings list listen on one bus.
      publishRecordingMessage(m);
    }
  });

  useEffect(() => {
    void loadVisits();
  }, [loadVisits]);

  // The visits with someone waiting: who (read again when the counts change) and the patient's name (once).
  const waitingKey = (visits ?? [])
    .filter((v) => v.lobbyCount > 0 && v.status !== 'ended')
    .map((v) => `${v.id}:${v.lobbyCount}:${v.admittedCount}:${v.patientId}`)
    .join(' ');
  const known = useRef(new Set<string>());
  useEffect(() => {
    for (const entry of waitingKey.split(' ').filter(Boolean)) {
      const [id = '', , , patientId = ''] = entry.split(':');
      void readVisit(id);
      if (patientId && !known.current.has(patientId)) {
        known.current.add(patientId);
        // The patient's name is PHI: read for treatment, recorded by scheduling (name fields only).
        void api<PatientNameView>(
          'GET',
          `/api/patients/${encodeURIComponent(patientId)}?purpose=treatment`,
        ).then(
          (p) => {
            const name = p.patient.name;
            if (name) setNames((n) => ({ ...n, [patientId]: name }));
          },
          () => known.current.delete(patientId),
        );
      }
    }
  }, [readVisit, waitingKey]);

  const admitNow = useCallback(
    async (visitId: string, p: Participant) => {
      setError(null);
      const done = await guarded(
        session,
        () => api('POST', `/api/visits/${visitId}/admit`, { participantId: p.id }),
        setError,
      );
      if (done !== undefined) await readVisit(visitId);
    },
    [session, readVisit],
  );

  useEffect(() => {
    document.body.classList.toggle('in-visit', shown);
    return () => document.body.classList.remove('in-visit');
  }, [shown]);

  const openVisit = useCallback(
    async (id: string) => {
      const summary = visits?.find((v) => v.id === id);
      dispatch({ type: 'Opened', visitId: id });
      setShown(true);
      const [, patient] = await Promise.all([
        readVisit(id),
        // The patient's name is PHI: read for treatment, recorded by scheduling (name fields only).
        summary?.patientId
          ? api<PatientNameView>(
              'GET',
              `/api/patients/${encodeURIComponent(summary.patientId)}?purpose=treatment`,
            ).catch(() => null)
          : null,
      ]);
      const name = patient?.patient.name;
      if (name) dispatch({ type: 'PatientNamed', visitId: id, name });
    },
    [visits, readVisit],
  );

  return (
    <div id="console">
      <section
        id="visits-card"
        className="card"
        aria-labelledby="visits-title"
        hidden={current !== undefined}
      >
        <h2 id="visits-title">Today's visits</h2>
        <p id="live-status" className="hint" role="status">
          {status}
        </p>
        <Note id="visits-error" kind="error">
          {error}
        </Note>
        <LobbyAlerts
          waiting={(visits ?? []).reduce((n, v) => n + (v.status === 'ended' ? 0 : v.lobbyCount), 0)}
        />
        <WaitingList visits={visits ?? []} lobbies={lobbies} names={names} onAdmit={admitNow} />
        <ul id="visits" className="list">
          {(visits ?? []).map((v) => (
            <li key={v.id} className="row">
              <div className="row-main">
                <strong>{`${timeOf(v.startTime)}–${timeOf(v.endTime)}`}</strong>
                <span className={`badge badge-${v.status}`}>{STATUS_LABELS[v.status] ?? v.status}</span>
                {v.locked ? <span className="badge">Locked</span> : null}
                <span className={v.lobbyCount > 0 ? 'badge badge-waiting' : 'badge'} data-lobby={v.id}>
                  {`${v.lobbyCount} waiting`}
                </span>
              </div>
              <div className="row-actions">
                <button
                  type="button"
                  className="button button-quiet"
                  aria-label={`Open the visit at ${timeOf(v.startTime)}`}
                  onClick={() => void openVisit(v.id)}
                >
                  Open
                </button>
              </div>
            </li>
          ))}
        </ul>
        <Note id="visits-empty" kind="hint" shown={visits?.length === 0}>
          No visits today.
        </Note>
      </section>
      {current === undefined
        ? consolePanels.map(({ id, component: P }) => <P key={id} openVisit={(v) => void openVisit(v)} />)
        : null}
      {open ? (
        <VisitCard
          key={open.id}
          visit={open}
          summary={visits?.find((v) => v.id === open.id)}
          shown={shown}
          live={() => live.current}
          onBack={() => {
            setShown(false);
            reloadVisits();
          }}
          readVisit={readVisit}
        />
      ) : null}
    </div>
  );
}
