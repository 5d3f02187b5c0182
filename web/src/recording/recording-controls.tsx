/**
 * The visit screen's recording part, for both roles: the clinician's Record / Stop button with its state (asked,
 * waiting for consent — with Cancel request —, refused by a role, recording, processing with percent), the consent dialog for every participant asked
 * (give, refuse; withdraw later), and the server-pushed "Recording" indicator, announced to screen readers, shown
 * until the recording stops; the page acknowledges the notice to the server once per recording.
 */
import { useCallback, useEffect, useReducer, useRef, useState } from 'react';
import { ApiError } from '../api/client';
import { onRecordingMessage } from './recording-bus';
import { ConsentDialog } from './consent-dialog';
import './recording.css';
import { initialRecordingUi, recordingUi, type RecordingUiState } from './recording-machine';
import { recordingCalls, type RecordingCalls, type RecordingEndpoints } from './recording-api';

/** Props of {@link RecordingControls}. */
export interface RecordingControlsProps {
  readonly role: 'clinician' | 'patient';
  readonly endpoints: RecordingEndpoints;
  /** The visit is live (the clinician can record only then). */
  readonly live: boolean;
  /** In the room (default), or waiting to be let in: then a recording in progress asks for consent first. */
  readonly present?: boolean;
  /** Tests hand in fakes. */
  readonly calls?: RecordingCalls;
  /** How often the processing percent is read (ms). */
  readonly pollMs?: number;
}

const messageOf = (err: unknown) =>
  err instanceof ApiError || err instanceof Error ? err.message : 'Something went wrong. Please try again.';

/** What the clinician's status line says. */
export function clinicianStatus(s: RecordingUiState): string {
  if (s.server === 'on') return 'Everyone present consented';
  // A refusal or a cancel, pushed at once: the line says so instead of waiting.
  if (s.server === 'off' && !s.processing && s.requestEnded) return s.requestEnded;
  if (s.server === 'requested') {
    const n = s.awaiting.length;
    if (n === 0) return 'Recording requested: starting…';
    return n === 1
      ? 'Recording requested: waiting for the patient’s consent'
      : `Recording requested: waiting for the consent of ${n} participants`;
  }
  if (s.processing) return `Processing the recording… ${s.processing.percent}%`;
  return 'Not recording';
}

/** The recording controls, indicator and dialog. */
export function RecordingControls({
  role,
  endpoints,
  live,
  present = true,
  calls: given,
  pollMs = 1500,
}: RecordingControlsProps) {
  const [s, dispatch] = useReducer(recordingUi, initialRecordingUi);
  // The calls are chosen once, when the controls mount.
  const [calls] = useState<RecordingCalls>(() => given ?? recordingCalls(endpoints));
  const acking = useRef<string | null>(null);

  useEffect(() => {
    let stop = false;
    const off = onRecordingMessage((message) => {
      if (!stop) dispatch({ type: 'Live', message, role, present });
    });
    void calls
      .read()
      .then((view) => {
        if (view && !stop) dispatch({ type: 'Read', view, role, present });
      })
      .catch(() => undefined);
    return () => {
      stop = true;
      off();
    };
  }, [calls, role, present]);

  // The notice was shown: acknowledged once per recording.
  useEffect(() => {
    const id = s.recordingId;
    if (!present || s.server !== 'on' || !id || s.acknowledged === id || acking.current === id) return;
    acking.current = id;
    void calls
      .ack()
      .then(() => dispatch({ type: 'Acknowledged', recordingId: id }))
      .catch(() => {
        acking.current = null;
      });
  }, [present, s.server, s.recordingId, s.acknowledged, calls]);

  // After a stop the clinician sees the processing percent until the recording is playable.
  const processingId = s.processing?.recordingId;
  useEffect(() => {
    if (!processingId || role !== 'clinician') return;
    let stop = false;
    const tick = async () => {
      const page = await calls.list().catch(() => null);
      if (stop) return;
      const r = page?.recordings.find((x) => x.id === processingId);
      if (r) {
        const done = r.state !== 'processing' && r.state !== 'recording';
        dispatch({ type: 'Progress', recordingId: processingId, percent: done ? 100 : r.percent, done });
        if (done) return;
      } else if (!page) {
        dispatch({ type: 'Progress', recordingId: processingId, percent: 0, done: true });
        return;
      }
      timer = setTimeout(() => void tick(), pollMs);
    };
    let timer = setTimeout(() => void tick(), 0);
    return () => {
      stop = true;
      clearTimeout(timer);
    };
  }, [processingId, role, calls, pollMs]);

  const record = useCallback(async () => {
    dispatch({ type: 'Busy' });
    try {
      if (s.server === 'on') {
        const r = await calls.stop();
        dispatch({ type: 'Stopped', recordingId: r.recordingId });
      } else {
        const r = await calls.start();
        dispatch({
          type: 'Requested',
          awaiting: r.awaitingConsent,
          recordingId: r.state === 'on' ? r.recordingId : null,
        });
      }
    } catch (err) {
      dispatch({ type: 'Failed', message: messageOf(err) });
    }
  }, [s.server, calls]);

  const cancel = useCallback(async () => {
    dispatch({ type: 'Busy' });
    try {
      await calls.cancel();
      dispatch({ type: 'Cancelled' });
    } catch (err) {
      dispatch({ type: 'Failed', message: messageOf(err) });
    }
  }, [calls]);

  const answer = useCallback(
    async (granted: boolean) => {
      dispatch({ type: 'Busy' });
      try {
        await calls.consent(granted);
        dispatch({ type: 'ConsentSent', granted });
      } catch (err) {
        dispatch({ type: 'Failed', message: messageOf(err) });
      }
    },
    [calls],
  );

  const recording = s.server === 'on';
  const asked = s.server !== 'off';
  const withdrawing = s.dialog && s.consent === 'given';
  const announcement = recording
    ? 'Recording started. This visit is being recorded.'
    : (s.stoppedBecause ?? (s.acknowledged ? 'Recording stopped.' : ''));

  return (
    <div className="rec" data-recording={s.server}>
      {/* Always in the page, so a change is announced. */}
      <p className="visually-hidden" aria-live="assertive" aria-atomic="true">
        {announcement}
      </p>
      {recording ? (
        <p className="rec-indicator">
          <span className="rec-dot" aria-hidden="true" />
          Recording
        </p>
      ) : null}
      {role === 'clinician' ? (
        <div className="rec-clinician">
          <button
            type="button"
            className={`control rec-button${recording ? ' rec-button-on' : ''}`}
            disabled={!live || s.busy || s.server === 'requested'}
            onClick={() => void record()}
          >
            <span className="rec-dot" aria-hidden="true" />
            <span>{recording ? 'Stop recording' : 'Record'}</span>
          </button>
          {s.server === 'requested' ? (
            <button
              type="button"
              className="button button-quiet rec-cancel"
              disabled={s.busy}
              onClick={() => void cancel()}
            >
              Cancel request
            </button>
          ) : null}
          <span className="rec-status" role="status">
            {clinicianStatus(s)}
          </span>
        </div>
      ) : null}
      {asked && s.consent === 'given' && role === 'patient' ? (
        <button
          type="button"
          className="button button-quiet rec-withdraw"
          onClick={() => dispatch({ type: 'WithdrawAsked' })}
        >
          Withdraw consent to recording
        </button>
      ) : null}
      {asked && s.consent !== 'given' && !s.dialog && role === 'patient' ? (
        <button
          type="button"
          className="button button-quiet rec-withdraw"
          onClick={() => dispatch({ type: 'WithdrawAsked' })}
        >
          {s.consent === 'refused' ? 'Change your answer about recording' : 'Answer the recording request'}
        </button>
      ) : null}
      {s.stoppedBecause && !recording && (role === 'patient' || !s.requestEnded) ? (
        <p className="rec-note">{s.stoppedBecause}</p>
      ) : null}
      {s.error ? (
        <p className="rec-error" role="alert">
          {s.error}
        </p>
      ) : null}
      {s.dialog && withdrawing ? (
        <ConsentDialog
          title="Withdraw your consent?"
          confirm={{ label: 'Withdraw consent', onClick: () => void answer(false) }}
          decline={{ label: 'Keep my consent', onClick: () => dispatch({ type: 'DialogClosed' }) }}
          onDismiss={() => dispatch({ type: 'DialogClosed' })}
          busy={s.busy}
        >
          <p>The recording stops at once for everyone. What was recorded until now is kept.</p>
        </ConsentDialog>
      ) : s.dialog ? (
        <ConsentDialog
          title={recording && !present ? 'This visit is being recorded' : 'May this visit be recorded?'}
          confirm={{ label: 'Give consent', onClick: () => void answer(true) }}
          decline={{ label: 'Refuse', onClick: () => void answer(false) }}
          onDismiss={() => dispatch({ type: 'DialogClosed' })}
          busy={s.busy}
        >
          <p>
            {recording && !present
              ? 'Your clinician is recording this visit. You can join it only if you agree to be recorded. '
              : 'Your clinician would like to record this visit. Nothing is recorded unless everyone agrees. '}
            The recording is encrypted, and every viewing is logged. You can withdraw your consent at any
            time.
          </p>
        </ConsentDialog>
      ) : null}
    </div>
  );
}
