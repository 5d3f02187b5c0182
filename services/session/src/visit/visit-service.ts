/**
 * What the session service does with a visit, Janus side effects included. Each operation loads the visit's
 * stream, checks the command with the pure decider BEFORE touching Janus (so a refused command changes
 * nothing), performs the Janus step, then appends through the decider handler (which decides again on the
 * freshest state). Access is revoked on Janus before the event saying so is appended; access is granted on
 * Janus just before the event, and withdrawn again if the append loses. The caller's deadline is checked before
 * a Janus step that takes something away; the event recording it is appended after it regardless.
 */
import { randomUUID } from 'node:crypto';
import { posix } from 'node:path';
import type { Logger } from 'pino';
import type { EventStore, RequestRecord } from '@haven/eventstore';
import { NotFoundError, PermissionError, PreconditionError, UnavailableError } from '@haven/errors';
import {
  findReplay,
  handleCommand,
  loadAggregate,
  SerialQueues,
  throwIfAborted,
  type AccessRefusal,
  type CommandMetadata,
} from '@haven/service';
import type { JanusPool } from '../janus/janus-pool';
import type { JanusRooms } from '../janus/janus-rooms';
import type { VideoRoomMediaEvent } from '../janus/janus-events';
import type { MediaAccess as MediaCredentials } from '../media/media-access';
import { decide, visitAccess, type Caller, type VisitCommand } from './decide';
import { roomCredentials, visitStream } from './open-visit';
import type { VisitProjection } from './projection';
import {
  displayMatches,
  displayParticipant,
  newAdmission,
  participantIdOf,
  roomToken,
  tokenHash,
} from './room-access';
import {
  evolve,
  initialVisitState,
  ParticipantStatus,
  readyToRecord,
  RecordingPolicy,
  RecordingStopReason,
  type VisitState,
} from './visit';

/** Dependencies of {@link VisitService}. */
export interface VisitServiceDeps {
  readonly store: EventStore;
  readonly janus: JanusPool;
  readonly roomKey: string;
  /** Issues the participants' media credentials (checked by the media proxy). */
  readonly media: MediaCredentials;
  /** Where browsers reach the media proxy (JoinMedia's server_url): the gateway's `/api/media`. */
  readonly mediaUrl: string;
  /** Records refusals (AccessRefused): feeds in the media room the service did not issue. */
  readonly onRefused: (refusal: AccessRefusal) => void;
  readonly projection: VisitProjection;
  readonly logger: Logger;
  readonly idleMinutes: number;
  /** The clinic's recording policy (HAVEN_RECORDING_POLICY); on-request when unset. */
  readonly recordingPolicy?: RecordingPolicy;
  readonly clock?: () => Date;
}

/** What a participant needs to reach the media room: the proxy's URL and this admission's credential. */
export interface MediaAccess {
  readonly serverUrl: string;
  readonly credential: string;
  readonly expireTime: Date;
  readonly participantId: string;
}

type Live = Extract<VisitState, { status: 'open' | 'ended' }>;
/**
 * The metadata of the event that records a Janus step already taken: it is appended whatever the caller's
 * deadline says (the deadline is checked before the step), so Janus and the events never disagree.
 */
function afterJanus(metadata: CommandMetadata): CommandMetadata {
  const { signal: _signal, ...rest } = metadata;
  return rest;
}

/** The principal kind of a participant's collection (`users/…` → user). */
const KIND_OF: Readonly<Record<string, string>> = { users: 'user', patients: 'patient', guests: 'guest' };

const SERVICE_METADATA = (correlationId: string): CommandMetadata => ({
  actor: { kind: 'service', id: 'session' },
  correlationId,
});

export class VisitService {
  private readonly clock: () => Date;
  /** Recording switches per visit, one at a time in this process (start and stop never interleave). */
  private readonly recordingLocks = new SerialQueues();

  constructor(private readonly deps: VisitServiceDeps) {
    this.clock = deps.clock ?? (() => new Date());
  }

  /** The clinic's recording policy. */
  get recordingPolicy(): RecordingPolicy {
    return this.deps.recordingPolicy ?? RecordingPolicy.OnRequest;
  }

  private now(): string {
    return this.clock().toISOString();
  }

  /** Loads a visit (state and etag). */
  async load(visitId: string): Promise<{ state: VisitState; etag: string }> {
    const loaded = await loadAggregate({
      store: this.deps.store,
      stream: visitStream(visitId),
      evolve,
      initialState: initialVisitState,
    });
    return { state: loaded.state, etag: String(loaded.expectedRevision) };
  }

  /** Loads a visit that exists (state and etag). Throws NotFoundError when there is none. */
  async loadExisting(visitId: string): Promise<{ state: Live; etag: string }> {
    const { state, etag } = await this.load(visitId);
    if (state.status === 'none') throw new NotFoundError(`visit ${visitId} not found`);
    return { state, etag };
  }

  private run(visitId: string, command: VisitCommand, metadata: CommandMetadata) {
    return handleCommand({
      store: this.deps.store,
      stream: visitStream(visitId),
      decide,
      evolve,
      initialState: initialVisitState,
      command,
      metadata,
    });
  }

  /** Checks a command against the current state without appending. Throws what decide throws. */
  private async check(visitId: string, command: VisitCommand): Promise<VisitState> {
    const { state } = await this.load(visitId);
    decide(command, state);
    return state;
  }

  private secretOf(visitId: string): string {
    return roomCredentials(this.deps.roomKey, visitId).secret;
  }

  private tokensOf(state: Live): string[] {
    return Object.values(state.participants)
      .filter((p) => p.status === ParticipantStatus.Admitted && p.admission !== undefined)
      .map((p) => roomToken(this.deps.roomKey, state.visitId, p.participantId, p.admission ?? ''));
  }

  private async roomsOf(state: Live): Promise<JanusRooms> {
    return this.deps.janus.node(state.janusNode, state.visitId);
  }

  /** Creates the room again (secret, PIN, allow-list with every admitted participant's token). */
  async recreateRoom(rooms: JanusRooms, state: Live): Promise<void> {
    const creds = roomCredentials(this.deps.roomKey, state.visitId);
    await rooms.createRoom({ room: state.room, ...creds, description: `visit ${state.visitId}` });
    await rooms.allowTokens(state.room, creds.secret, this.tokensOf(state));
  }

  /**
   * The first answer of an idempotent request on this visit, when its events are stored (a retry): the visit
   * right after them, and them. Undefined otherwise. Throws RequestIdReusedError for a key used differently.
   */
  async replay(visitId: string, request: RequestRecord) {
    return findReplay({
      store: this.deps.store,
      stream: visitStream(visitId),
      evolve,
      initialState: initialVisitState,
      request,
    });
  }

  /** Runs a plain command (lobby, deny, lock, unlock, consent) for a caller. */
  async command(visitId: string, command: VisitCommand, metadata: CommandMetadata) {
    return this.run(visitId, command, metadata);
  }

  /** Admits a waiting participant: token on the allow-list, then ParticipantAdmitted (hash only). */
  async admit(visitId: string, participantId: string, caller: Caller, metadata: CommandMetadata) {
    const admission = newAdmission();
    const token = roomToken(this.deps.roomKey, visitId, participantId, admission);
    const command: VisitCommand = {
      type: 'AdmitParticipant',
      data: { caller, participantId, admission, tokenHash: tokenHash(token), policy: this.recordingPolicy },
    };
    const state = (await this.check(visitId, command)) as Live;
    const rooms = await this.roomsOf(state);
    const secret = this.secretOf(visitId);
    await rooms.allowTokens(state.room, secret, [token]);
    let result;
    try {
      result = await this.run(visitId, command, metadata);
    } catch (error) {
      await rooms.revokeTokens(state.room, secret, [token]).catch(() => undefined);
      throw error;
    }
    await this.startWhenReady(visitId, metadata).catch((error: unknown) =>
      this.deps.logger.warn({ err: error, visitId }, 'recording not started after admission'),
    );
    return result;
  }

  /**
   * Records a participant's consent. A withdrawal by someone present while recording stops Janus recording
   * first, then appends the consent and RecordingStopped together; a consent that completes a pending request
   * starts the recording. Throws what decide throws.
   */
  async recordConsent(
    visitId: string,
    command: Extract<VisitCommand, { type: 'RecordConsent' }>,
    metadata: CommandMetadata,
  ) {
    return this.recordingLocks.run(visitId, async () => {
      const { state } = await this.load(visitId);
      const events = decide(command, state);
      const live = state as Live;
      if (events.some((e) => e.type === 'haven.session.v1.RecordingStopped')) {
        // Stopped at once, before anything else, and whatever the caller's deadline says.
        const rooms = await this.roomsOf(live);
        await rooms.setRecording(live.room, this.secretOf(visitId), { record: false });
        return this.run(visitId, command, afterJanus(metadata));
      }
      const result = await this.run(visitId, command, metadata);
      if (command.data.granted) {
        await this.startIfReady(visitId, metadata).catch((error: unknown) =>
          this.deps.logger.warn({ err: error, visitId }, 'recording not started after consent'),
        );
      }
      return result;
    });
  }

  /**
   * The clinician asks to record (their own consent included). Recording starts now when everyone present has
   * consented, otherwise when the last consent arrives. Returns the visit after both steps. Throws
   * PreconditionError (policy off, already recording, clinician not in the visit), UnavailableError (Janus).
   */
  async requestRecording(visitId: string, caller: Caller, metadata: CommandMetadata) {
    return this.recordingLocks.run(visitId, async () => {
      const participantId = participantIdOf(caller);
      await this.run(
        visitId,
        { type: 'RequestRecording', data: { caller, participantId, policy: this.recordingPolicy } },
        metadata,
      );
      await this.startIfReady(visitId, metadata);
      return this.load(visitId);
    });
  }

  /**
   * Cancels the clinician's pending recording request (RecordingRequestEnded; Janus never started). Throws
   * PermissionError (not the visit's clinician), PreconditionError (nothing pending, or already recording).
   */
  async cancelRecording(visitId: string, caller: Caller, metadata: CommandMetadata) {
    return this.recordingLocks.run(visitId, () =>
      this.run(visitId, { type: 'CancelRecording', data: { caller } }, metadata),
    );
  }

  /** Stops the recording in progress (the clinician's StopRecording). Throws PreconditionError when none is. */
  async stopRecording(visitId: string, caller: Caller, metadata: CommandMetadata) {
    return this.recordingLocks.run(visitId, async () => {
      const command: VisitCommand = {
        type: 'StopRecording',
        data: { caller, reason: RecordingStopReason.StoppedByClinician, at: this.now() },
      };
      const state = (await this.check(visitId, command)) as Live;
      throwIfAborted(metadata.signal);
      const rooms = await this.roomsOf(state);
      await rooms.setRecording(state.room, this.secretOf(visitId), { record: false });
      return this.run(
        visitId,
        { ...command, data: { ...command.data, at: this.now() } },
        afterJanus(metadata),
      );
    });
  }

  /** {@link startIfReady} under the visit's recording lock. */
  private startWhenReady(visitId: string, metadata: CommandMetadata): Promise<void> {
    return this.recordingLocks.run(visitId, () => this.startIfReady(visitId, metadata));
  }

  /**
   * Starts Janus recording into `<recordings dir>/<new recording id>/` and appends RecordingStarted, when a
   * recording was asked for and everyone present has consented; nothing otherwise. Janus is switched back off
   * when the event cannot be appended. Call under the visit's recording lock. Throws UnavailableError (Janus, or
   * no recordings directory configured).
   */
  private async startIfReady(visitId: string, metadata: CommandMetadata): Promise<void> {
    const { state } = await this.load(visitId);
    if (!readyToRecord(state)) return;
    const live = state as Live;
    const rooms = await this.roomsOf(live);
    const base = rooms.node.recordingsDir;
    if (base === undefined) {
      throw new UnavailableError(`janus node ${live.janusNode} has no recordings directory`);
    }
    const recordingId = randomUUID();
    const secret = this.secretOf(visitId);
    await rooms.setRecording(live.room, secret, { record: true, dir: posix.join(base, recordingId) });
    try {
      await this.run(
        visitId,
        { type: 'BeginRecording', data: { recordingId, at: this.now() } },
        afterJanus(metadata),
      );
    } catch (error) {
      await rooms.setRecording(live.room, secret, { record: false }).catch(() => undefined);
      throw error;
    }
  }

  /**
   * Removes a participant (kick), the caller (leave) or every entry of a revoked guest: tokens off the allow-list,
   * feeds kicked, then the events.
   */
  async remove(
    visitId: string,
    command: Extract<VisitCommand, { type: 'KickParticipant' | 'LeaveVisit' | 'RevokeGuest' }>,
    metadata: CommandMetadata,
  ) {
    const state = (await this.check(visitId, command)) as Live;
    const gone =
      command.type === 'RevokeGuest'
        ? Object.values(state.participants).filter((x) => x.principal === command.data.principal)
        : [state.participants[command.data.participantId]];
    throwIfAborted(metadata.signal);
    for (const p of gone) {
      if (p?.admission === undefined) continue;
      const rooms = await this.roomsOf(state);
      const secret = this.secretOf(visitId);
      await rooms.revokeTokens(state.room, secret, [
        roomToken(this.deps.roomKey, visitId, p.participantId, p.admission),
      ]);
      // Every feed the visit knows for them, and any other published under their id. Their media connections
      // (subscribers too) close when the event below reaches the projection, on every replica.
      await rooms.kickParticipant(state.room, secret, p.participantId, p.feeds ?? []);
    }
    return this.run(visitId, command, afterJanus(metadata));
  }

  /** Ends a visit: destroys the room (everyone's media closes), then VisitEnded. */
  async end(
    visitId: string,
    command: Extract<VisitCommand, { type: 'EndVisit' | 'EndIdleVisit' }>,
    metadata: CommandMetadata,
  ) {
    const { state } = await this.load(visitId);
    if (decide(command, state).length === 0) return undefined;
    const live = state as Live;
    throwIfAborted(metadata.signal);
    const rooms = await this.roomsOf(live);
    if (live.recording !== undefined) {
      // Closes every recorder cleanly before the room goes; destroying the room would close them too.
      await rooms.setRecording(live.room, this.secretOf(visitId), { record: false }).catch(() => undefined);
    }
    await rooms.destroyRoom(live.room, this.secretOf(visitId));
    const result = await this.run(visitId, command, afterJanus(metadata));
    this.deps.janus.release(visitId);
    return result;
  }

  /**
   * Media access for the caller: the owning clinician (admitted implicitly on first call) or an admitted patient
   * of this visit. Throws PermissionError for anyone else, PreconditionError when the visit ended,
   * UnavailableError when the node is down.
   */
  async joinMedia(visitId: string, caller: Caller, metadata: CommandMetadata): Promise<MediaAccess> {
    const participantId = participantIdOf(caller);
    let { state } = await this.load(visitId);
    if (state.status === 'none') throw new NotFoundError(`visit ${visitId} not found`);
    if (state.status === 'ended') throw new PreconditionError('visit has ended');
    const live = state;
    const access = visitAccess(live, caller);
    if (access === 'none') throw new PermissionError('not a participant of this visit');
    if (access === 'clinician' && live.participants[participantId]?.status !== ParticipantStatus.Admitted) {
      const admission = newAdmission();
      const token = roomToken(this.deps.roomKey, visitId, participantId, admission);
      const rooms = await this.roomsOf(live);
      throwIfAborted(metadata.signal);
      await rooms.allowTokens(live.room, this.secretOf(visitId), [token]);
      state = (
        await this.run(
          visitId,
          {
            type: 'AdmitClinician',
            data: {
              caller,
              participantId,
              admission,
              tokenHash: tokenHash(token),
              policy: this.recordingPolicy,
            },
          },
          afterJanus(metadata),
        )
      ).state;
      await this.startWhenReady(visitId, metadata).catch((error: unknown) =>
        this.deps.logger.warn({ err: error, visitId }, 'recording not started after the clinician joined'),
      );
    }
    const current = state as Live;
    const me = current.participants[participantId];
    if (me?.status !== ParticipantStatus.Admitted || me.admission === undefined) {
      throw new PermissionError('not admitted to this visit');
    }
    const token = roomToken(this.deps.roomKey, visitId, participantId, me.admission);
    const rooms = await this.roomsOf(current);
    const secret = this.secretOf(visitId);
    try {
      await rooms.allowTokens(current.room, secret, [token]);
    } catch {
      // The room is gone (a Janus restart the reconnect has not repaired yet): create it again with its list.
      await this.recreateRoom(rooms, current);
    }
    const now = this.clock().getTime();
    const end = Date.parse(current.endTime);
    const expireTime = new Date(Math.min(now + 4 * 3600_000, Math.max(now + 15 * 60_000, end + 30 * 60_000)));
    if (!this.deps.janus.nodeConfig(current.janusNode)) {
      throw new UnavailableError(`janus node ${current.janusNode} is not configured`);
    }
    return {
      serverUrl: this.deps.mediaUrl,
      credential: this.deps.media.issue({
        visitId,
        participantId,
        admission: me.admission,
        caller,
        expireTime,
      }),
      expireTime,
      participantId,
    };
  }

  /**
   * Turns Janus event-handler media events into ParticipantJoinedMedia / ParticipantLeftMedia. A feed is
   * attributed by the display the media proxy issued (participant id + MAC over the current admission), never by
   * what a client chose: a feed under any other display, of someone not admitted, or over their role's feed limit
   * is kicked and recorded as a refusal.
   */
  async onMediaEvents(events: readonly VideoRoomMediaEvent[]): Promise<void> {
    for (const e of events) {
      const visitId = this.deps.projection.visitOfRoom(e.room);
      if (!visitId) continue;
      const at = this.clock().toISOString();
      try {
        if (e.kind === 'joined') await this.mediaJoined(visitId, e, at);
        else {
          await this.run(
            visitId,
            { type: 'RecordMediaLeft', data: { feedId: e.feedId, at, reason: e.kind } },
            SERVICE_METADATA(`janus-${visitId}`),
          );
        }
      } catch (error) {
        this.deps.logger.warn({ err: error, room: e.room }, 'janus media event not recorded');
      }
    }
  }

  private async mediaJoined(visitId: string, e: VideoRoomMediaEvent, at: string): Promise<void> {
    const { state } = await this.load(visitId);
    if (state.status !== 'open') return;
    const pid = displayParticipant(e.display);
    const p = pid !== undefined ? state.participants[pid] : undefined;
    const issued =
      pid !== undefined &&
      p?.admission !== undefined &&
      displayMatches(this.deps.roomKey, visitId, pid, p.admission, e.display ?? '');
    let refusal: string | undefined = issued
      ? undefined
      : 'a feed under a display this service did not issue for a current admission';
    if (issued) {
      try {
        await this.run(
          visitId,
          { type: 'RecordMediaJoined', data: { participantId: pid, feedId: e.feedId, at } },
          SERVICE_METADATA(`janus-${visitId}`),
        );
      } catch (error) {
        if (!(error instanceof PermissionError)) throw error;
        refusal = error.message;
      }
    }
    if (refusal === undefined) return;
    const rooms = await this.roomsOf(state);
    await rooms.kickFeed(state.room, this.secretOf(visitId), e.feedId);
    const principal = p ? /^(users|patients|guests)\/(.+)$/.exec(p.principal) : null;
    this.deps.onRefused({
      method: 'janus videoroom.joined',
      kind: 'media',
      code: 'MEDIA_FEED_KICKED',
      reason: `feed kicked: ${refusal}`,
      // A display the service issued names its participant; any other names nobody (never the one it claims).
      ...(issued ? { target: `visits/${visitId}/participants/${pid}` } : { target: `visits/${visitId}` }),
      ...(issued && principal?.[2]
        ? { principal: { kind: KIND_OF[principal[1] ?? ''] ?? 'patient', id: principal[2] } }
        : {}),
      correlationId: `janus-${visitId}`,
    });
  }

  /** Ends every open visit that has been idle for the configured minutes. Errors are logged per visit. */
  async endIdleVisits(): Promise<number> {
    let ended = 0;
    const now = this.clock().toISOString();
    for (const v of this.deps.projection.all()) {
      if (v.status !== 'open') continue;
      const command: VisitCommand = {
        type: 'EndIdleVisit',
        data: { now, idleMinutes: this.deps.idleMinutes },
      };
      if (decide(command, v).length === 0) continue;
      try {
        if (await this.end(v.visitId, command, SERVICE_METADATA(`idle-${v.visitId}`))) ended++;
      } catch (error) {
        this.deps.logger.warn({ err: error, visitId: v.visitId }, 'idle visit not ended');
      }
    }
    return ended;
  }

  /**
   * After a Janus node came back: recreate each open visit's room there with its allow-list (room tokens are
   * derived, so admitted participants keep theirs and just rejoin), and record that everyone's media dropped.
   */
  async recoverNode(rooms: JanusRooms): Promise<void> {
    const at = this.clock().toISOString();
    for (const v of this.deps.projection.all()) {
      if (v.status !== 'open' || v.janusNode !== rooms.node.id) continue;
      let { state } = await this.load(v.visitId);
      if (state.status !== 'open') continue;
      if (state.recording !== undefined) {
        // Janus went away mid-recording: what it wrote is kept, the recording is partial; recording again
        // needs a new StartRecording (consents stand).
        state = (
          await this.run(
            v.visitId,
            {
              type: 'StopRecording',
              data: { reason: RecordingStopReason.MediaNodeLost, at, partial: true },
            },
            SERVICE_METADATA(`janus-recover-${v.visitId}`),
          )
        ).state;
        if (state.status !== 'open') continue;
      }
      await this.recreateRoom(rooms, state);
      for (const p of Object.values(state.participants)) {
        for (const feedId of p.feeds ?? []) {
          await this.run(
            v.visitId,
            { type: 'RecordMediaLeft', data: { feedId, at, reason: 'room_destroyed' } },
            SERVICE_METADATA(`janus-recover-${v.visitId}`),
          );
        }
      }
      this.deps.logger.info(
        { visitId: v.visitId, node: rooms.node.id },
        'room recreated after janus restart',
      );
    }
  }
}
