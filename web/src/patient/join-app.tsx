/**
 * The patient's page: /join#<token> → passcode (→ date of birth) → camera/microphone/connection check → waiting
 * room → visit. The link token is read from the URL fragment (never sent in a request line) and removed from the
 * address bar at once. One step at a time; each step's heading takes the focus. A guest's one-time link (`g.…`:
 * an interpreter, a relative) takes the same steps with its own passcode, without chat, recordings or access log.
 */
import { useCallback, useEffect, useMemo, useRef, useState, type FormEvent, type ReactNode } from 'react';
import { ApiError, api } from '../api/client';
import { openLive, type LiveChannel, type PatientLiveMessage } from '../live/live-channel';
import { afterPush, NO_PUSHES, pushedSince } from '../live/push-counts';
import { publishRecordingMessage } from '../recording/recording-bus';
import { RecordingControls } from '../recording/recording-controls';
import { RecordingsList } from '../recording/recordings-list';
import { havenVisit } from '../visit/mount';
import type { ChatTarget } from '../chat/use-chat';
import { WaitingNotice } from '../lobby/waiting-notice';
import { VisitScreen } from '../visit/visit-screen';
import { deviceCheckBody, startPreview, type Preview } from './self-check';
import { AccessLog } from './access-log';
import { Note } from '../ui/note';
import type {
  GuestJoinedView,
  PatientJoinedView,
  PatientVisitView,
} from '../../../services/gateway/src/patient-visit-view';

/** What a visit read (GET /api/patient/visit) and a `visit` push both say about this device. */
type PatientVisit = Pick<PatientVisitView, 'status' | 'locked' | 'yourOtherDevicesIn'>;

/** A guest's one-time link token (`g.` and the token); a patient's has no prefix. */
export function isGuestToken(token: string): boolean {
  return token.startsWith('g.');
}

/** The page's steps. */
export type JoinStep =
  | { readonly step: 'loading' }
  | { readonly step: 'passcode' }
  | { readonly step: 'blocked'; readonly message: string }
  | { readonly step: 'check' }
  | { readonly step: 'waiting'; readonly locked: boolean; readonly error: string | null }
  | { readonly step: 'visit' }
  | { readonly step: 'over'; readonly message: string };

/** What the patient reads when the visit is over for them. */
export const OVER = {
  ended: 'Your visit has ended. Thank you.',
  denied: 'The clinic could not let you in to this visit. Please call the clinic.',
  kicked: 'You were removed from the visit. Please call the clinic if this was a mistake.',
  expired: 'This visit link has expired. Please call the clinic if you still need help.',
  noLink: 'This page needs the link the clinic sent you. Please open that link again.',
} as const;

/** One step of the page: its heading (focused when shown), a lead line `message` if given, then `children`. */
function Step({
  id,
  title,
  message,
  children,
}: {
  id: string;
  title: string;
  message?: string;
  children?: ReactNode;
}) {
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => heading.current?.focus(), []);
  return (
    <section id={`step-${id}`} className="card narrow" aria-labelledby={`${id}-title`}>
      <h1 id={`${id}-title`} tabIndex={-1} ref={heading}>
        {title}
      </h1>
      {message === undefined ? null : (
        <p id={`${id}-message`} className="lead">
          {message}
        </p>
      )}
      {children}
    </section>
  );
}

function PasscodeStep({
  token,
  onJoined,
  onBlocked,
}: {
  token: string;
  onJoined: () => void;
  onBlocked: (m: string) => void;
}) {
  const [busy, setBusy] = useState(false);
  const [formError, setFormError] = useState<string | null>(null);
  const [needsDob, setNeedsDob] = useState(false);
  const [dobError, setDobError] = useState<string | null>(null);
  const passcodeRef = useRef<HTMLInputElement>(null);
  const dobRef = useRef<HTMLInputElement>(null);

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const data = new FormData(event.currentTarget);
    const field = (name: string) => {
      const v = data.get(name);
      return typeof v === 'string' ? v : '';
    };
    const dob = field('dateOfBirth');
    setFormError(null);
    setDobError(null);
    setBusy(true);
    try {
      await api<PatientJoinedView | GuestJoinedView>(
        'POST',
        isGuestToken(token) ? '/api/join/guest' : '/api/join',
        {
          token,
          passcode: field('passcode'),
          ...(dob ? { dateOfBirth: dob } : {}),
        },
      );
      onJoined();
    } catch (err) {
      if (err instanceof ApiError && err.fieldViolations.some((v) => v.field === 'dateOfBirth')) {
        setNeedsDob(true);
        setDobError(dob ? 'Please check your date of birth.' : 'Please enter your date of birth.');
        setTimeout(() => dobRef.current?.focus());
      } else if (err instanceof ApiError && err.status === 409) {
        onBlocked(err.message);
      } else {
        setFormError(err instanceof Error ? err.message : String(err));
        if (passcodeRef.current) passcodeRef.current.value = '';
        passcodeRef.current?.focus();
      }
    } finally {
      setBusy(false);
    }
  };

  return (
    <Step id="passcode" title="Your video visit">
      <p className="lead">
        {isGuestToken(token)
          ? 'You are invited to join a video visit. Enter the passcode the clinician gave you with this link.'
          : 'Enter the passcode the clinic gave you. It was read to you or sent separately from this link.'}
      </p>
      <form id="passcode-form" noValidate onSubmit={(e) => void submit(e)} aria-busy={busy}>
        <Note id="passcode-form-error" kind="error">
          {formError}
        </Note>
        <div className="field">
          <label htmlFor="passcode">Passcode</label>
          <input
            ref={passcodeRef}
            id="passcode"
            name="passcode"
            type="text"
            inputMode="numeric"
            autoComplete="one-time-code"
            maxLength={16}
            required
            aria-invalid={formError ? true : undefined}
          />
        </div>
        {needsDob ? (
          <div id="dob-field" className="field">
            <label htmlFor="dateOfBirth">Your date of birth</label>
            <input
              ref={dobRef}
              id="dateOfBirth"
              name="dateOfBirth"
              type="date"
              aria-describedby="dateOfBirth-error"
              aria-invalid={dobError ? true : undefined}
            />
            {dobError ? (
              <p id="dateOfBirth-error" className="field-error">
                {dobError}
              </p>
            ) : null}
          </div>
        ) : null}
        <button type="submit" className="button button-primary" disabled={busy}>
          Continue
        </button>
      </form>
    </Step>
  );
}

type Mark = { readonly ok: boolean; readonly text: string } | null;

function CheckItem({
  id,
  mark,
  label,
  children,
}: {
  id: string;
  mark: Mark;
  label: string;
  children?: ReactNode;
}) {
  return (
    <li id={id} className={mark ? (mark.ok ? 'ok' : 'bad') : undefined}>
      <span className="check-mark" aria-hidden="true">
        {mark ? (mark.ok ? '✓' : '✗') : '…'}
      </span>{' '}
      <span>{mark ? mark.text : label}</span>
      {children}
    </li>
  );
}

function CheckStep({
  whenNetwork,
  onContinue,
  preview,
}: {
  whenNetwork: (timeoutMs: number) => Promise<boolean>;
  onContinue: () => void;
  /** Keeps the running preview, stopped when the page leaves the check. */
  preview: (p: Preview) => void;
}) {
  const [running, setRunning] = useState(false);
  const [help, setHelp] = useState<string | null>(null);
  const [camera, setCamera] = useState<Mark>(null);
  const [mic, setMic] = useState<Mark>(null);
  const [network, setNetwork] = useState<Mark>(null);
  const [canContinue, setCanContinue] = useState(false);
  const video = useRef<HTMLVideoElement>(null);
  const meter = useRef<HTMLMeterElement>(null);

  const start = async () => {
    setRunning(true);
    setHelp(null);
    const p = await startPreview();
    preview(p);
    const { cameraOk, micOk } = p.result;
    if (video.current) video.current.srcObject = p.stream;
    p.meter((level) => {
      if (meter.current) meter.current.value = level;
    });
    if (!p.stream) {
      setHelp(
        'Your camera or microphone is blocked. Allow them in your browser settings (the camera icon in the address bar), then press the button again.',
      );
      setRunning(false);
    }
    setCamera({ ok: cameraOk, text: cameraOk ? 'Camera works' : 'Camera not available' });
    setMic({
      ok: micOk,
      text: micOk ? 'Microphone works (speak to see the level)' : 'Microphone not available',
    });
    const netOk = await whenNetwork(8000);
    setNetwork({
      ok: netOk,
      text: netOk ? 'Connection works' : 'Cannot connect. Check your internet connection.',
    });
    if (netOk) setCanContinue(true);
    if (netOk && (!cameraOk || !micOk)) {
      setHelp('You can still go to the waiting room; your clinician may not see or hear you.');
    }
  };

  return (
    <Step id="check" title="Check your camera and microphone">
      <p className="lead">Your browser will ask to use your camera and microphone. Please allow it.</p>
      <video
        ref={video}
        id="preview"
        className="preview"
        autoPlay
        muted
        playsInline
        aria-label="Your camera preview"
      />
      <ul className="checks">
        <CheckItem id="check-camera" mark={camera} label="Camera" />
        <CheckItem id="check-mic" mark={mic} label="Microphone">
          <meter
            ref={meter}
            id="mic-level"
            min={0}
            max={1}
            low={0.05}
            value={0}
            aria-label="Microphone level"
          />
        </CheckItem>
        <CheckItem id="check-network" mark={network} label="Connection" />
      </ul>
      <Note id="check-help" kind="notice">
        {help}
      </Note>
      <div className="actions">
        {running ? null : (
          <button
            type="button"
            id="check-start"
            className="button button-primary"
            onClick={() => void start()}
          >
            Start the check
          </button>
        )}
        {canContinue ? (
          <button type="button" id="check-continue" className="button button-primary" onClick={onContinue}>
            Go to the waiting room
          </button>
        ) : null}
      </div>
    </Step>
  );
}

const PATIENT_RECORDING = { stateUrl: '/api/patient/visit', actionsUrl: '/api/patient/recording' } as const;

/** What a waiting device says about the patient's other devices already in the visit. */
export function otherDevicesLine(devices: readonly number[]): string | null {
  if (devices.length === 0) return null;
  const which = devices.length === 1 ? `device ${devices[0]}` : `devices ${devices.join(' and ')}`;
  return `Your other ${devices.length === 1 ? 'device' : 'devices'} (${which}) ${devices.length === 1 ? 'is' : 'are'} already in the visit. Your clinician lets this one in separately.`;
}

function WaitingStep({
  locked,
  error,
  noticeVersion,
  guest,
  otherDevicesIn,
}: {
  locked: boolean;
  error: string | null;
  noticeVersion: number;
  guest: boolean;
  otherDevicesIn: readonly number[];
}) {
  const others = otherDevicesLine(otherDevicesIn);
  return (
    <Step id="waiting" title="Waiting room">
      <p className="lead waiting-lead">
        {guest ? 'The clinician will let you in.' : 'Your clinician will let you in.'}
      </p>
      <p id="waiting-status" role="status">
        {locked
          ? 'Your clinician has paused new arrivals for a moment. Please keep this page open.'
          : 'Please keep this page open. You do not need to do anything.'}
      </p>
      {others ? <p id="waiting-devices">{others}</p> : null}
      <WaitingNotice version={noticeVersion} />
      <Note id="waiting-error" kind="error">
        {error}
      </Note>
      {/* A visit being recorded (or about to be) asks here first: nobody is let in without consenting. */}
      <RecordingControls role="patient" endpoints={PATIENT_RECORDING} live={false} present={false} />
      {guest ? null : <AccessLog />}
    </Step>
  );
}

/** The patient's chat: the visit of their own token. */
const PATIENT_CHAT: ChatTarget = { as: 'patient' };

function VisitStep({ guest }: { guest: boolean }) {
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => heading.current?.focus(), []);
  const onState = useMemo(
    () =>
      havenVisit.track({ mediaUrl: '/api/patient/media', leaveUrl: '/api/patient/leave', role: 'patient' }),
    [],
  );
  return (
    <section id="step-visit" aria-labelledby="visit-title">
      <div className="card">
        <h1 id="visit-title" tabIndex={-1} ref={heading}>
          {guest ? 'You are in the visit' : 'You are in your visit'}
        </h1>
        <p id="visit-status" role="status">
          {guest ? 'The clinician let you in.' : 'Your clinician let you in.'}
        </p>
      </div>
      <div id="visit-stage">
        <VisitScreen
          mediaUrl="/api/patient/media"
          leaveUrl="/api/patient/leave"
          role="patient"
          onState={onState}
          chat={guest ? undefined : PATIENT_CHAT}
          recording={PATIENT_RECORDING}
        />
      </div>
      {guest ? null : (
        <div className="card">
          <RecordingsList listUrl="/api/patient/recordings" role="patient" />
        </div>
      )}
    </section>
  );
}

/** The whole patient page. */
export function JoinApp({ token }: { token: string }) {
  const [step, setStep] = useState<JoinStep>(() => (token ? { step: 'passcode' } : { step: 'loading' }));
  const [guest, setGuest] = useState(() => isGuestToken(token));
  const [noticeVersion, setNoticeVersion] = useState(0);
  const [otherDevicesIn, setOtherDevicesIn] = useState<readonly number[]>([]);
  const live = useRef<LiveChannel | null>(null);
  const preview = useRef<Preview | null>(null);
  const network = useRef<{ ok: boolean; waiters: Array<() => void> }>({ ok: false, waiters: [] });

  const over = useCallback((message: string) => {
    live.current?.close();
    preview.current?.stop();
    preview.current = null;
    setStep({ step: 'over', message });
  }, []);

  // Once entered, the visit stays mounted until it finishes by itself (hidden when the page moves on): the
  // media connection's own ending (removed, ended) is what the visit's state reports.
  const [entered, setEntered] = useState(false);
  const enterVisit = useCallback(() => {
    preview.current?.stop();
    preview.current = null;
    setStep((s) => {
      if (s.step === 'visit' || s.step === 'over') return s;
      setEntered(true);
      return { step: 'visit' };
    });
  }, []);

  /** The `visit` pushes the page has heard: a read answered after one more is older than that push. */
  const pushes = useRef(NO_PUSHES);
  const onVisitState = useCallback(
    (v: PatientVisit, olderThanPush = false) => {
      // An older read still moves the page on (let in, ended, …: those only go forward) but does not undo a
      // lock, or other devices let in, that the live channel pushed meanwhile.
      if (!olderThanPush) setOtherDevicesIn(v.yourOtherDevicesIn);
      if (v.status === 'admitted') enterVisit();
      else if (v.status === 'ended') over(OVER.ended);
      else if (v.status === 'denied') over(OVER.denied);
      else if (v.status === 'kicked') over(OVER.kicked);
      else if (v.status === 'waiting' && !olderThanPush)
        setStep((s) => (s.step === 'waiting' ? { ...s, locked: v.locked } : s));
    },
    [enterVisit, over],
  );

  const startLive = useCallback(() => {
    if (live.current) return;
    live.current = openLive<PatientLiveMessage>({
      as: 'patient',
      onMessage: (m) => {
        if (m.type === 'hello') {
          network.current.ok = true;
          for (const w of network.current.waiters) w();
          network.current.waiters = [];
        } else if (m.type === 'admitted') enterVisit();
        else if (m.type === 'denied') over(OVER.denied);
        else if (m.type === 'kicked') over(OVER.kicked);
        else if (m.type === 'ended') over(OVER.ended);
        else if (m.type === 'visit') {
          pushes.current = afterPush(pushes.current, 'visit');
          onVisitState(m);
        } else if (m.type === 'recording') publishRecordingMessage(m);
        else if (m.type === 'lobby-notice') setNoticeVersion((v) => v + 1);
      },
      onSignedOut: () => over(OVER.expired),
    });
  }, [enterVisit, over, onVisitState]);

  const whenNetwork = useCallback(
    (timeoutMs: number) => {
      startLive();
      if (network.current.ok) return Promise.resolve(true);
      return new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), timeoutMs);
        network.current.waiters.push(() => {
          clearTimeout(timer);
          resolve(true);
        });
      });
    },
    [startLive],
  );

  const goWaiting = useCallback(async () => {
    setStep({ step: 'waiting', locked: false, error: null });
    // The check's result goes with the arrival (devices and permission only), for the clinician's list.
    const checked = preview.current?.result;
    try {
      await api('POST', '/api/patient/lobby', checked ? { deviceCheck: deviceCheckBody(checked) } : {});
    } catch (err) {
      if (err instanceof ApiError && (err.status === 409 || err.status === 401)) {
        over(err.status === 401 ? 'This visit link has expired. Please call the clinic.' : err.message);
        return;
      }
      setStep({ step: 'waiting', locked: false, error: err instanceof Error ? err.message : String(err) });
      return;
    }
    // The admission may have happened before the socket heard about it.
    const start = pushes.current;
    const now = await api<PatientVisitView>('GET', '/api/patient/visit').catch(() => null);
    if (now) onVisitState(now, pushedSince(pushes.current, start, 'visit'));
  }, [over, onVisitState]);

  const keepPreview = useCallback((p: Preview) => {
    preview.current?.stop();
    preview.current = p;
  }, []);

  useEffect(() => {
    if (token) return;
    // A reload: the patient cookie may still be there.
    void api<PatientVisitView>('GET', '/api/patient/visit').then(
      (v) => {
        setGuest(v.guest);
        if (v.status === 'not_joined' || v.status === 'left') setStep({ step: 'check' });
        else {
          startLive();
          if (v.status === 'waiting') setStep({ step: 'waiting', locked: v.locked, error: null });
          onVisitState(v);
        }
      },
      () => setStep({ step: 'blocked', message: OVER.noLink }),
    );
    // Once, at load.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  useEffect(
    () => () => {
      live.current?.close();
      preview.current?.stop();
    },
    [],
  );

  return (
    <>
      <CurrentStep
        step={step}
        token={token}
        onJoined={() => setStep({ step: 'check' })}
        onBlocked={(message) => setStep({ step: 'blocked', message })}
        whenNetwork={whenNetwork}
        onContinue={() => void goWaiting()}
        keepPreview={keepPreview}
        noticeVersion={noticeVersion}
        guest={guest}
        otherDevicesIn={otherDevicesIn}
      />
      {entered ? (
        <div hidden={step.step !== 'visit'}>
          <VisitStep guest={guest} />
        </div>
      ) : null}
    </>
  );
}

function CurrentStep(props: {
  step: JoinStep;
  token: string;
  onJoined: () => void;
  onBlocked: (message: string) => void;
  whenNetwork: (timeoutMs: number) => Promise<boolean>;
  onContinue: () => void;
  keepPreview: (p: Preview) => void;
  noticeVersion: number;
  guest: boolean;
  otherDevicesIn: readonly number[];
}) {
  const { step } = props;
  switch (step.step) {
    case 'loading':
      return (
        <p id="loading" className="loading" role="status">
          Loading…
        </p>
      );
    case 'passcode':
      return <PasscodeStep token={props.token} onJoined={props.onJoined} onBlocked={props.onBlocked} />;
    case 'blocked':
      return <Step id="blocked" title="We cannot open this visit" message={step.message} />;
    case 'check':
      return (
        <CheckStep
          whenNetwork={props.whenNetwork}
          onContinue={props.onContinue}
          preview={props.keepPreview}
        />
      );
    case 'waiting':
      return (
        <WaitingStep
          locked={step.locked}
          error={step.error}
          noticeVersion={props.noticeVersion}
          guest={props.guest}
          otherDevicesIn={props.otherDevicesIn}
        />
      );
    case 'visit':
      return null;
    case 'over':
      return (
        <Step id="over" title="Your visit" message={step.message}>
          {props.guest ? null : <RecordingsList listUrl="/api/patient/recordings" role="patient" />}
        </Step>
      );
  }
}
