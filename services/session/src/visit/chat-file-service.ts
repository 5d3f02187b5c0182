/**
 * Files in the visit's chat, with their I/O. Sharing: the type is found from the bytes, the decider runs once
 * with a placeholder (limits, membership, rate) before anything is stored, the bytes are encrypted with the
 * chunked AES-GCM format of @haven/crypto under a fresh data key wrapped with the patient's key (KMS context
 * `{ chatFile: visits/V/files/F }`, so destroying the patient's key shreds the file too) into the object store,
 * and then ChatFileShared is appended with the file name sealed. Reading: a member only; PhiAccessed is appended
 * before the first byte leaves.
 */
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  createDecryptStream,
  createEncryptStream,
  openPhi,
  sealPhi,
  subjectKeyKms,
  unlessErased,
  type PatientKeyStore,
  type SealedPhi,
} from '@haven/crypto';
import { NotFoundError, UnavailableError, ValidationError } from '@haven/errors';
import type { EventStore } from '@haven/eventstore';
import type { CallContext, CommandMetadata, ObjectStore, Principal } from '@haven/service';
import { requireChatMember } from './chat';
import { ChatFileEventType, detectChatFileType, type ChatFileShared, type ShareChatFile } from './chat-files';
import {
  PLACEHOLDER_PHI,
  chatAccessStream,
  recordPhiRead,
  type ChatFileView,
  type ChatMessageView,
} from './chat-service';
import { decide, type Caller } from './decide';
import { visitStream } from './open-visit';
import { participantIdOf } from './room-access';
import type { VisitState } from './visit';
import type { VisitService } from './visit-service';

/** Plaintext bytes per encrypted chunk and per streamed message. */
const CHUNK_BYTES = 256 * 1024;

/** Dependencies of {@link ChatFileService}. */
export interface ChatFileServiceDeps {
  readonly store: EventStore;
  readonly visits: VisitService;
  /** The patients' data keys; without them files answer UNAVAILABLE. */
  readonly keys: PatientKeyStore | undefined;
  /** Where the encrypted bytes go; without it files answer UNAVAILABLE. */
  readonly objects: ObjectStore | undefined;
  /** The clinic's largest file, in bytes. */
  readonly maxBytes: number;
  readonly clock?: () => Date;
}

/** The object key of a chat file. */
export function chatFileKey(visitId: string, fileId: string): string {
  return `chat-files/${visitId}/${fileId}.henc`;
}

const contextOf = (visitId: string, fileId: string) => ({ chatFile: `visits/${visitId}/files/${fileId}` });

/** Shares and reads a visit's chat files. */
export class ChatFileService {
  private readonly clock: () => Date;

  constructor(private readonly deps: ChatFileServiceDeps) {
    this.clock = deps.clock ?? (() => new Date());
  }

  /** The clinic's largest file, in bytes. */
  get maxBytes(): number {
    return this.deps.maxBytes;
  }

  private requireStorage(): { keys: PatientKeyStore; objects: ObjectStore } {
    const { keys, objects } = this.deps;
    if (!keys || !objects) throw new UnavailableError('chat files need HAVEN_DATA_DIR (keys and objects)');
    return { keys, objects };
  }

  /**
   * Shares `content` for a member. Throws ValidationError (empty, too big, a type not allowed, a bad name),
   * PermissionError, ResourceExhaustedError, PreconditionError, NotFoundError (the decider's), all before a
   * byte is stored; UnavailableError without storage.
   */
  async share(
    visitId: string,
    caller: Caller,
    input: { readonly fileName: string; readonly content: Buffer },
    metadata: CommandMetadata,
  ): Promise<ChatMessageView> {
    const participantId = participantIdOf(caller);
    const mediaType = detectChatFileType(input.content);
    if (input.content.length > 0 && !mediaType) {
      throw new ValidationError([
        { field: 'content', description: 'must be a PNG, JPEG or WebP image or a PDF (by its content)' },
      ]);
    }
    const fileId = randomUUID();
    const messageId = randomUUID();
    const at = this.clock().toISOString();
    const command = (phi: SealedPhi): ShareChatFile => ({
      type: 'ShareChatFile',
      data: {
        caller,
        participantId,
        messageId,
        fileId,
        fileName: input.fileName,
        mediaType: mediaType ?? 'application/pdf',
        sizeBytes: input.content.length,
        maxBytes: this.deps.maxBytes,
        phi,
        at,
      },
    });
    const { state } = await this.deps.visits.load(visitId);
    const decided = decide(command(PLACEHOLDER_PHI), state)[0] as ChatFileShared | undefined;
    const { keys, objects } = this.requireStorage();
    const patientId = (state as Extract<VisitState, { status: 'open' }>).patientId;
    const key = chatFileKey(visitId, fileId);
    const encrypt = createEncryptStream(subjectKeyKms(keys, patientId), {
      chunkSize: CHUNK_BYTES,
      context: contextOf(visitId, fileId),
    });
    await objects.put(key, Readable.from([input.content]).pipe(encrypt));
    try {
      const phi = await sealPhi(keys, patientId, { fileName: input.fileName });
      await this.deps.visits.command(visitId, command(phi), metadata);
    } catch (error) {
      await objects.delete(key).catch(() => undefined);
      throw error;
    }
    const role = decided?.data.role;
    return {
      visitId,
      messageId,
      participantId,
      role: role ?? 'clinician',
      text: '',
      postedAt: at,
      mine: true,
      file: {
        fileId,
        fileName: input.fileName,
        mediaType: mediaType ?? 'application/pdf',
        sizeBytes: input.content.length,
      },
    };
  }

  /**
   * Streams a file to a member: `send` gets the file's description first, then its bytes. PhiAccessed is
   * appended before the first message. Throws NotFoundError (no visit, no such file), PermissionError (not a
   * member), PreconditionError (the patient's data was erased), UnavailableError (no storage, or the access
   * could not be recorded).
   */
  async read(
    visitId: string,
    fileId: string,
    principal: Principal,
    caller: Caller,
    ctx: Pick<CallContext, 'correlationId' | 'traceparent' | 'method'>,
    send: (message: { file?: ChatFileView; data?: Buffer }) => Promise<void>,
  ): Promise<void> {
    const { state } = await this.deps.visits.loadExisting(visitId);
    requireChatMember(state, caller, participantIdOf(caller));
    const events = await this.deps.store.read(visitStream(visitId));
    const shared = events.find((e) => e.type === ChatFileEventType.Shared && e.data['fileId'] === fileId);
    if (!shared) throw new NotFoundError('no such file in this visit');
    const { keys, objects } = this.requireStorage();
    const data = shared.data as unknown as ChatFileShared['data'];
    const sealed = shared.phi;
    const opened = sealed ? await unlessErased(() => openPhi(keys, sealed)) : {};
    const fileName = typeof opened['fileName'] === 'string' ? opened['fileName'] : '';
    const decrypt = createDecryptStream(subjectKeyKms(keys, state.patientId), {
      context: contextOf(visitId, fileId),
    });
    await recordPhiRead(this.deps.store, this.clock, {
      patientId: state.patientId,
      what: `visits/${visitId}/files/${fileId}`,
      stream: chatAccessStream(visitId),
      principal,
      ctx,
      fields: ['fileName', 'content'],
    });
    const encrypted = await objects.get(chatFileKey(visitId, fileId));
    await send({ file: { fileId, fileName, mediaType: data.mediaType, sizeBytes: data.sizeBytes } });
    const plain = encrypted.pipe(decrypt);
    encrypted.once('error', (error) => decrypt.destroy(error));
    for await (const piece of plain as AsyncIterable<Buffer>) {
      for (let at = 0; at < piece.length; at += CHUNK_BYTES) {
        await send({ data: piece.subarray(at, at + CHUNK_BYTES) });
      }
    }
  }
}
