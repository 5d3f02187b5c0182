/**
 * The visit's chat with its I/O: the text is sealed with the patient's data key before the decider sees the
 * command (the event carries it only in the envelope's `phi`), and every read that returns text appends
 * `haven.events.v1.PhiAccessed` (stream `session.chat_access-<visitId>`) before the answer ("no event, no
 * answer").
 */
import { randomUUID } from 'node:crypto';
import { openPhi, sealPhi, unlessErased, type PatientKeyStore, type SealedPhi } from '@haven/crypto';
import { NotFoundError, UnavailableError, ValidationError } from '@haven/errors';
import type { EventStore } from '@haven/eventstore';
import {
  phiAccessEvent,
  SerialQueues,
  type CallContext,
  type CommandMetadata,
  type Principal,
} from '@haven/service';
import {
  ChatEventType,
  requireChatMember,
  type ChatMessagePosted,
  type ChatRole,
  type SendChatMessage,
} from './chat';
import { ChatFileEventType, type ChatFileShared, type ChatFileType } from './chat-files';
import {
  requireTranscriptReader,
  TranscriptEventType,
  writeTranscript,
  type ExportChatTranscript,
  type TranscriptExported,
} from './chat-transcript';
import { decide, type Caller } from './decide';
import { visitStream } from './open-visit';
import { participantIdOf } from './room-access';
import type { VisitState } from './visit';
import type { VisitService } from './visit-service';

/** The stream of a visit's chat reads. */
export function chatAccessStream(visitId: string): string {
  return `session.chat_access-${visitId}`;
}

/** A chat message as the handlers answer it. */
export interface ChatMessageView {
  readonly visitId: string;
  readonly messageId: string;
  readonly participantId: string;
  readonly role: ChatRole;
  readonly text: string;
  readonly postedAt: string;
  /** The file this message shares (then `text` is empty). */
  readonly file?: ChatFileView;
  /** Whether the caller of the read (or the post) is its sender: the same participant, not merely the same role. */
  readonly mine: boolean;
}

/** A shared file as the handlers answer it. */
export interface ChatFileView {
  readonly fileId: string;
  /** As its sender named it (PHI: opened from the event's sealed part). */
  readonly fileName: string;
  readonly mediaType: ChatFileType;
  readonly sizeBytes: number;
}

/** Dependencies of {@link ChatService}. */
export interface ChatServiceDeps {
  readonly store: EventStore;
  readonly visits: VisitService;
  /** The patients' data keys (session's own store); without it the chat answers UNAVAILABLE. */
  readonly keys: PatientKeyStore | undefined;
  readonly clock?: () => Date;
}

/** Stands for the sealed PHI in a decision taken before sealing: every refusal comes before anything is sealed. */
export const PLACEHOLDER_PHI: SealedPhi = { subject: '-', keyId: '-', ciphertext: '' };

/** Posts and reads a visit's chat. */
export class ChatService {
  private readonly clock: () => Date;
  /** Posts per visit, one at a time in this process (a burst queues instead of racing for the stream). */
  private readonly queues = new SerialQueues();

  constructor(private readonly deps: ChatServiceDeps) {
    this.clock = deps.clock ?? (() => new Date());
  }

  private requireKeys(): PatientKeyStore {
    if (!this.deps.keys) throw new UnavailableError('the chat needs HAVEN_DATA_DIR (its key store)');
    return this.deps.keys;
  }

  /**
   * Posts a message for a member. Throws what the decider throws (ValidationError, PermissionError,
   * ResourceExhaustedError, PreconditionError, NotFoundError) before anything is sealed, UnavailableError
   * without a key store.
   */
  async send(
    visitId: string,
    caller: Caller,
    text: string,
    metadata: CommandMetadata,
  ): Promise<ChatMessageView> {
    return await this.queues.run(visitId, () => this.post(visitId, caller, text, metadata));
  }

  private async post(
    visitId: string,
    caller: Caller,
    text: string,
    metadata: CommandMetadata,
  ): Promise<ChatMessageView> {
    const participantId = participantIdOf(caller);
    const command = (phi: SealedPhi, at: string, messageId: string): SendChatMessage => ({
      type: 'SendChatMessage',
      data: { caller, participantId, messageId, text, phi, at },
    });
    const { state } = await this.deps.visits.load(visitId);
    const at = this.clock().toISOString();
    const messageId = randomUUID();
    decide(command(PLACEHOLDER_PHI, at, messageId), state);
    const live = state as Extract<VisitState, { status: 'open' }>;
    const keys = this.requireKeys();
    const phi = await unlessErased(() => sealPhi(keys, live.patientId, { text }));
    const result = await this.deps.visits.command(visitId, command(phi, at, messageId), metadata);
    const event = result.events.find((e) => e.type === ChatEventType.MessagePosted) as
      ChatMessagePosted | undefined;
    return {
      visitId,
      messageId,
      participantId,
      role: event?.data.role ?? (caller.kind === 'patient' ? 'patient' : 'clinician'),
      text,
      postedAt: at,
      mine: true,
    };
  }

  /**
   * A member's read of the messages after `after` (a message id; none: from the first), at most `limit`.
   * PhiAccessed is appended before anything is returned (not when there is nothing to return). Throws
   * NotFoundError (no visit, unknown `after`), PermissionError (not a member), UnavailableError (no key store,
   * or the access could not be recorded).
   */
  async list(
    visitId: string,
    principal: Principal,
    caller: Caller,
    options: { after?: string; limit: number },
    ctx: Pick<CallContext, 'correlationId' | 'traceparent' | 'method'>,
  ): Promise<ChatMessageView[]> {
    const { state } = await this.deps.visits.loadExisting(visitId);
    const me = participantIdOf(caller);
    requireChatMember(state, caller, me);
    const events = await this.deps.store.read(visitStream(visitId));
    const posted = events.filter(
      (e) => e.type === ChatEventType.MessagePosted || e.type === ChatFileEventType.Shared,
    );
    let start = 0;
    if (options.after) {
      const i = posted.findIndex((e) => e.data['messageId'] === options.after);
      if (i < 0)
        throw new ValidationError([{ field: 'after', description: 'is not a message of this visit' }]);
      start = i + 1;
    }
    const page = posted.slice(start, start + options.limit);
    if (page.length === 0) return [];
    const keys = this.requireKeys();
    await recordPhiRead(this.deps.store, this.clock, {
      patientId: state.patientId,
      what: `visits/${visitId}/messages`,
      stream: chatAccessStream(visitId),
      principal,
      ctx,
      fields: ['text', 'fileName'],
    });
    const out: ChatMessageView[] = [];
    for (const e of page) {
      const phi = e.phi;
      const sealed = phi ? await unlessErased(() => openPhi(keys, phi)) : {};
      const data = e.data as unknown as ChatMessagePosted['data'] | ChatFileShared['data'];
      const message = {
        visitId,
        messageId: data.messageId,
        participantId: data.participantId,
        role: data.role,
        postedAt: data.postedAt,
        mine: data.participantId === me,
      };
      if (e.type === ChatFileEventType.Shared) {
        const file = data as ChatFileShared['data'];
        const fileName = sealed['fileName'];
        out.push({
          ...message,
          text: '',
          file: {
            fileId: file.fileId,
            fileName: typeof fileName === 'string' ? fileName : '',
            mediaType: file.mediaType,
            sizeBytes: file.sizeBytes,
          },
        });
        continue;
      }
      const text = sealed['text'];
      out.push({ ...message, text: typeof text === 'string' ? text : '' });
    }
    return out;
  }
}

/** A chat transcript as the handlers answer it. */
export interface TranscriptView {
  readonly visitId: string;
  readonly transcriptId: string;
  readonly text: string;
  readonly messageCount: number;
  readonly fileCount: number;
  readonly exportedBy: string;
  readonly exportedAt: string;
}

/** Exports a visit's chat into the visit record and reads the export back (host clinicians). */
export class TranscriptService {
  private readonly clock: () => Date;

  constructor(
    private readonly deps: ChatServiceDeps,
    private readonly chat: ChatService,
  ) {
    this.clock = deps.clock ?? (() => new Date());
  }

  /**
   * Writes the transcript of every message and file so far (reading them is a PhiAccessed), seals it and
   * appends TranscriptExported. Throws PermissionError (not a host clinician) before reading anything,
   * PreconditionError (visit ended, chat empty), NotFoundError, UnavailableError (no key store).
   */
  async export(
    visitId: string,
    principal: Principal,
    caller: Caller,
    ctx: Pick<CallContext, 'correlationId' | 'traceparent' | 'method'>,
    metadata: CommandMetadata,
  ): Promise<TranscriptView> {
    const participantId = participantIdOf(caller);
    const { state } = await this.deps.visits.loadExisting(visitId);
    requireTranscriptReader(state, caller, participantId);
    const transcriptId = randomUUID();
    const at = this.clock().toISOString();
    const command = (phi: SealedPhi, counts: { messages: number; files: number }): ExportChatTranscript => ({
      type: 'ExportChatTranscript',
      data: {
        caller,
        participantId,
        transcriptId,
        messageCount: counts.messages,
        fileCount: counts.files,
        phi,
        at,
      },
    });
    decide(command(PLACEHOLDER_PHI, { messages: 1, files: 0 }), state);
    const entries: ChatMessageView[] = [];
    for (;;) {
      const last = entries.at(-1);
      const page = await this.chat.list(
        visitId,
        principal,
        caller,
        { ...(last ? { after: last.messageId } : {}), limit: 500 },
        ctx,
      );
      entries.push(...page);
      if (page.length < 500) break;
    }
    const files = entries.filter((e) => e.file).length;
    const counts = { messages: entries.length - files, files };
    decide(command(PLACEHOLDER_PHI, counts), state);
    const text = writeTranscript(
      visitId,
      entries.map((e) => ({
        role: e.role,
        postedAt: e.postedAt,
        text: e.text,
        ...(e.file
          ? { file: { fileName: e.file.fileName, mediaType: e.file.mediaType, sizeBytes: e.file.sizeBytes } }
          : {}),
      })),
    );
    const live = state as Extract<VisitState, { status: 'open' }>;
    const keys = this.requireKeys();
    const phi = await unlessErased(() => sealPhi(keys, live.patientId, { transcript: text }));
    await this.deps.visits.command(visitId, command(phi, counts), metadata);
    return {
      visitId,
      transcriptId,
      text,
      messageCount: counts.messages,
      fileCount: counts.files,
      exportedBy: `users/${caller.id}`,
      exportedAt: at,
    };
  }

  /**
   * The latest exported transcript, for a host clinician (also after the visit ended); PhiAccessed first.
   * Throws NotFoundError (no visit, nothing exported), PermissionError, PreconditionError (patient data erased),
   * UnavailableError.
   */
  async get(
    visitId: string,
    principal: Principal,
    caller: Caller,
    ctx: Pick<CallContext, 'correlationId' | 'traceparent' | 'method'>,
  ): Promise<TranscriptView> {
    const { state } = await this.deps.visits.loadExisting(visitId);
    requireTranscriptReader(state, caller, participantIdOf(caller));
    const events = await this.deps.store.read(visitStream(visitId));
    const latest = events.filter((e) => e.type === TranscriptEventType.Exported).at(-1);
    if (!latest?.phi) throw new NotFoundError('no transcript was exported for this visit');
    const keys = this.requireKeys();
    const data = latest.data as unknown as TranscriptExported['data'];
    await recordPhiRead(this.deps.store, this.clock, {
      patientId: state.patientId,
      what: `visits/${visitId}/transcripts/${data.transcriptId}`,
      stream: chatAccessStream(visitId),
      principal,
      ctx,
      fields: ['transcript'],
    });
    const sealed = latest.phi;
    const text = (await unlessErased(() => openPhi(keys, sealed)))['transcript'];
    return {
      visitId,
      transcriptId: data.transcriptId,
      text: typeof text === 'string' ? text : '',
      messageCount: data.messageCount,
      fileCount: data.fileCount,
      exportedBy: data.exportedBy,
      exportedAt: data.exportedAt,
    };
  }

  private requireKeys(): PatientKeyStore {
    if (!this.deps.keys) throw new UnavailableError('the chat needs HAVEN_DATA_DIR (its key store)');
    return this.deps.keys;
  }
}

/**
 * Appends one PhiAccessed (purpose treatment, outcome granted) for a read of the visit's sealed text. Throws
 * UnavailableError when it cannot be recorded: the caller must then return nothing.
 */
export async function recordPhiRead(
  store: Pick<EventStore, 'append'>,
  clock: () => Date,
  read: {
    readonly patientId: string;
    /** The resource read, e.g. `visits/{id}/messages`. */
    readonly what: string;
    readonly stream: string;
    readonly principal: Principal;
    readonly ctx: Pick<CallContext, 'correlationId' | 'traceparent' | 'method'>;
    /** The sealed fields opened; default `['text']`. */
    readonly fields?: readonly string[];
  },
): Promise<void> {
  const { principal, ctx, patientId } = read;
  try {
    await store.append(read.stream, 'any', [
      phiAccessEvent(clock, {
        principal,
        ctx,
        patientId,
        what: read.what,
        fields: read.fields ?? ['text'],
        why: 'PHI_ACCESS_PURPOSE_TREATMENT',
        outcome: 'granted',
      }),
    ]);
  } catch (error) {
    throw new UnavailableError('the read could not be recorded; nothing was returned', { cause: error });
  }
}
