/**
 * gRPC handlers of secure messaging outside visits. The text of a message is sealed with the patient's data key
 * before it reaches the event (envelope `phi`, never `data`, never a log line), and a read that returns text
 * appends PhiAccessed (purpose treatment-communication) to the patient's access stream first: when that append
 * fails nothing is returned. Refusals (a caller outside the thread) are PermissionErrors, which the gRPC harness
 * records as AccessRefused events.
 */
import { randomUUID } from 'node:crypto';
import { openPhi, sealPhi, unlessErased, type SealedPhi } from '@haven/crypto';
import { NotFoundError, PermissionError, ValidationError } from '@haven/errors';
import { scheduling } from '@haven/proto';
import {
  commandMetadata,
  handleCommand,
  idempotencyKey,
  idempotentResourceId,
  nextOffsetToken,
  offsetPage,
  pageItems,
  requestRecord,
  requirePrincipal,
  RESOURCE_ID,
  type CallContext,
  type Principal,
} from '@haven/service';
import { loadAppointment } from '../appointment/grpc';
import type { SchedulingDeps } from '../deps';
import { idFromName, requireResourceId } from '../ids';
import { loadPatient } from '../patient/grpc';
import { recordPhiAccess } from '../phi-access';
import { decideMessageThread, isMember, type MessageThreadCommand } from './decide';
import { indexed, type IndexedThread, type MessageThreadIndex } from './thread-index';
import {
  evolveMessageThread,
  initialMessageThreadState,
  MessageThreadEventType,
  messageThreadStream,
  ThreadTopic,
  unreadFor,
  type MessageThreadEvent,
  type MessageThreadState,
  type ThreadParty,
} from './thread';

/** The PhiAccessed purpose of reading a secure message. */
const TREATMENT_COMMUNICATION = 'PHI_ACCESS_PURPOSE_TREATMENT_COMMUNICATION';

type Thread = Exclude<MessageThreadState, { status: 'none' }>;
type Deps = SchedulingDeps & { readonly threads: MessageThreadIndex };
type StoredThreadEvent = MessageThreadEvent & { readonly phi?: SealedPhi; readonly occurredAt?: string };

/** The caller as a side of a thread. Throws PermissionError for a service account or an internal service. */
export function partyOf(p: Principal): ThreadParty {
  if (p.kind === 'patient') return { kind: 'patient', id: p.id };
  if (p.kind === 'user') return { kind: 'staff', id: p.id, role: p.role ?? '' };
  throw new PermissionError('secure messages are between a patient and their care team');
}

const TOPIC_OF: Partial<Record<scheduling.MessageThreadTopic, ThreadTopic>> = {
  [scheduling.MessageThreadTopic.MESSAGE_THREAD_TOPIC_CARE]: ThreadTopic.Care,
  [scheduling.MessageThreadTopic.MESSAGE_THREAD_TOPIC_SCHEDULING]: ThreadTopic.Scheduling,
};

function threadToProto(t: IndexedThread, reader: ThreadParty): scheduling.MessageThread {
  return scheduling.MessageThread.fromPartial({
    name: `messageThreads/${t.threadId}`,
    patient: `patients/${t.patientId}`,
    topic:
      t.topic === ThreadTopic.Care
        ? scheduling.MessageThreadTopic.MESSAGE_THREAD_TOPIC_CARE
        : scheduling.MessageThreadTopic.MESSAGE_THREAD_TOPIC_SCHEDULING,
    clinician: t.clinicianId ? `users/${t.clinicianId}` : '',
    state:
      t.status === 'open'
        ? scheduling.MessageThreadState.MESSAGE_THREAD_STATE_OPEN
        : scheduling.MessageThreadState.MESSAGE_THREAD_STATE_CLOSED,
    messageCount: t.messages.length,
    unreadCount: unreadFor(t, reader.kind).length,
    ...(t.createTime ? { createTime: new Date(t.createTime) } : {}),
    ...(t.updateTime ? { updateTime: new Date(t.updateTime) } : {}),
  });
}

/** `messageThreads/{id}` → id. Throws ValidationError on `field`. */
function threadIdOf(name: string, field: string): string {
  return requireResourceId(name, 'messageThreads', field);
}

/** Loads a thread with its stored events. Throws NotFoundError when there is none. */
async function loadThread(
  deps: Deps,
  threadId: string,
): Promise<{ thread: Thread; indexed: IndexedThread; events: StoredThreadEvent[] }> {
  const events = (await deps.store.read(messageThreadStream(threadId))) as unknown as (StoredThreadEvent & {
    revision: bigint;
  })[];
  let state: MessageThreadState = initialMessageThreadState;
  for (const e of events) state = evolveMessageThread(state, e);
  if (state.status === 'none') throw new NotFoundError(`message thread ${threadId} not found`);
  const opened = events[0]?.data as { openedAt?: string } | undefined;
  return { thread: state, indexed: indexed(state, events.length - 1, opened?.openedAt ?? ''), events };
}

function requireMember(thread: Thread, party: ThreadParty): void {
  if (!isMember(thread, party)) throw new PermissionError('not a member of this thread');
}

/** Runs a thread command with the decider; puts the new state in the index. */
async function runThreadCommand(
  deps: Deps,
  ctx: CallContext,
  threadId: string,
  command: MessageThreadCommand,
  options: { phi?: SealedPhi; request?: ReturnType<typeof requestRecord> } = {},
): Promise<IndexedThread> {
  await handleCommand({
    store: deps.store,
    stream: messageThreadStream(threadId),
    decide: (c: MessageThreadCommand, state: MessageThreadState) =>
      decideMessageThread(c, state).map((e) =>
        options.phi && e.type === MessageThreadEventType.Posted ? { ...e, phi: options.phi } : e,
      ),
    evolve: evolveMessageThread,
    initialState: initialMessageThreadState,
    command,
    metadata: commandMetadata(ctx),
    ...(options.request ? { request: options.request } : {}),
    now: deps.clock,
  });
  const { indexed: current } = await loadThread(deps, threadId);
  deps.threads.put(current);
  return current;
}

/** Seals a message's text with the patient's key. Throws PreconditionError when the patient was erased. */
async function sealText(deps: Deps, patientId: string, text: string): Promise<SealedPhi> {
  return unlessErased(() => sealPhi(deps.keys, patientId, { text }));
}

/** CreateMessageThread. */
export function createMessageThread(deps: Deps) {
  return async (
    request: scheduling.CreateMessageThreadRequest,
    ctx: CallContext,
  ): Promise<scheduling.CreateMessageThreadResponse> => {
    const principal = requirePrincipal(ctx);
    const by = partyOf(principal);
    const topic = TOPIC_OF[request.topic];
    if (!topic) throw new ValidationError([{ field: 'topic', description: 'must be CARE or SCHEDULING' }]);
    let patientId: string;
    if (by.kind === 'patient') {
      patientId = request.patient === '' ? by.id : requireResourceId(request.patient, 'patients', 'patient');
      if (patientId !== by.id) throw new PermissionError('a patient opens threads for themself only');
    } else {
      patientId = requireResourceId(request.patient, 'patients', 'patient');
    }
    let clinicianId: string | undefined;
    if (request.clinician !== '') {
      clinicianId = idFromName(request.clinician, 'users');
      if (!clinicianId || !RESOURCE_ID.test(clinicianId)) {
        throw new ValidationError([{ field: 'clinician', description: 'must be users/{id}' }]);
      }
    }
    if (topic === ThreadTopic.Scheduling) clinicianId = undefined;
    else if (!clinicianId && by.kind === 'patient') clinicianId = await clinicianOfVisit(deps, principal);
    else if (!clinicianId && by.role === 'clinician') clinicianId = by.id;
    const key = idempotencyKey(ctx, request.requestId);
    const threadId = key ? idempotentResourceId(key, 'message-thread') : randomUUID();
    await loadPatient(deps, patientId);
    if (clinicianId && !deps.readModel.clinicianSeesPatient(clinicianId, patientId)) {
      throw new PermissionError('this clinician is not part of the patient’s care team');
    }
    const command: MessageThreadCommand = {
      type: 'OpenThread',
      data: { threadId, patientId, topic, ...(clinicianId ? { clinicianId } : {}), by, now: deps.clock() },
    };
    const thread = await runThreadCommand(deps, ctx, threadId, command, {
      ...(key ? { request: requestRecord(key, { patientId, topic, clinicianId: clinicianId ?? '' }) } : {}),
    });
    deps.logger.info({ threadId, topic }, 'message thread opened');
    return { thread: threadToProto(thread, by) };
  };
}

/**
 * The clinician of the appointment a patient token names (`subject_of`), when it is the patient's: a patient
 * writing to "my clinician" from their visit link.
 */
async function clinicianOfVisit(deps: Deps, principal: Principal): Promise<string | undefined> {
  const appointmentId = /^(?:visits|appointments)\/([a-z0-9-]{4,63})$/.exec(principal.subjectOf ?? '')?.[1];
  if (!appointmentId) return undefined;
  const { state } = await loadAppointment(deps, appointmentId);
  return state.status !== 'none' && state.patientId === principal.id ? state.clinicianId : undefined;
}

/** The threads a caller lists: a patient their own, a clinician their care threads, the front desk scheduling. */
function listedBy(party: ThreadParty, patientId: string | undefined) {
  return (t: IndexedThread): boolean => {
    if (patientId !== undefined && t.patientId !== patientId) return false;
    if (party.kind === 'patient') return t.patientId === party.id;
    if (party.role === 'clinician') return t.topic === ThreadTopic.Care && t.clinicianId === party.id;
    return party.role === 'front_desk' && t.topic === ThreadTopic.Scheduling;
  };
}

/** ListMessageThreads: ids, counts and times; no text, no PhiAccessed. */
export function listMessageThreads(deps: Deps) {
  return async (
    request: scheduling.ListMessageThreadsRequest,
    ctx: CallContext,
  ): Promise<scheduling.ListMessageThreadsResponse> => {
    const principal = requirePrincipal(ctx);
    const by = partyOf(principal);
    if (by.kind === 'staff' && by.role !== 'clinician' && by.role !== 'front_desk') {
      throw new PermissionError('secure messages are between a patient and their care team');
    }
    const patientId =
      request.patient === '' ? undefined : requireResourceId(request.patient, 'patients', 'patient');
    const filter = { m: 'ListMessageThreads', p: patientId ?? '', by: `${by.kind}:${by.id}` };
    const page = offsetPage(request, filter, { defaultSize: 50, maxSize: 200 });
    const all = deps.threads.list(listedBy(by, patientId));
    return {
      threads: pageItems(page, all).map((t) => threadToProto(t, by)),
      nextPageToken: nextOffsetToken(page, all.length),
    };
  };
}

/** ListSecureMessages: membership, then PhiAccessed, then the opened text ("no event, no answer"). */
export function listSecureMessages(deps: Deps) {
  return async (
    request: scheduling.ListSecureMessagesRequest,
    ctx: CallContext,
  ): Promise<scheduling.ListSecureMessagesResponse> => {
    const principal = requirePrincipal(ctx);
    const by = partyOf(principal);
    const threadId = threadIdOf(request.parent, 'parent');
    const filter = { m: 'ListSecureMessages', t: threadId };
    const page = offsetPage(request, filter, { defaultSize: 100, maxSize: 500 });
    const { thread, indexed: current, events } = await loadThread(deps, threadId);
    requireMember(thread, by);
    const posted = events.filter((e) => e.type === MessageThreadEventType.Posted);
    const shown = pageItems(page, posted);
    const response = {
      thread: threadToProto(current, by),
      nextPageToken: nextOffsetToken(page, posted.length),
    };
    if (shown.length === 0) return { ...response, messages: [] };
    await recordPhiAccess(deps, {
      principal,
      ctx,
      patientId: thread.patientId,
      what: `messageThreads/${threadId}/messages`,
      fields: ['text'],
      why: TREATMENT_COMMUNICATION,
      outcome: 'granted',
    });
    const readUpTo = (side: 'patient' | 'staff') => {
      const upTo = thread.readUpTo[side];
      return upTo === undefined ? -1 : thread.messages.findIndex((m) => m.messageId === upTo);
    };
    const messages: scheduling.SecureMessage[] = [];
    for (const e of shown) {
      const data = e.data as { messageId: string; author: ThreadParty; postedAt: string };
      const sealed = e.phi;
      const opened = sealed ? await unlessErased(() => openPhi(deps.keys, sealed), { missingKey: true }) : {};
      const text = typeof opened['text'] === 'string' ? opened['text'] : '';
      const fromPatient = data.author.kind === 'patient';
      const index = thread.messages.findIndex((m) => m.messageId === data.messageId);
      messages.push(
        scheduling.SecureMessage.fromPartial({
          name: `messageThreads/${threadId}/messages/${data.messageId}`,
          author: fromPatient ? `patients/${data.author.id}` : `users/${data.author.id}`,
          fromPatient,
          text,
          createTime: new Date(data.postedAt),
          // Read by the other side: the patient's messages by the staff, and the reverse.
          read: index >= 0 && index <= readUpTo(fromPatient ? 'staff' : 'patient'),
        }),
      );
    }
    return { ...response, messages };
  };
}

/** PostSecureMessage: validate (decider, with a placeholder), seal, append. */
export function postSecureMessage(deps: Deps) {
  return async (
    request: scheduling.PostSecureMessageRequest,
    ctx: CallContext,
  ): Promise<scheduling.PostSecureMessageResponse> => {
    const principal = requirePrincipal(ctx);
    const by = partyOf(principal);
    const threadId = threadIdOf(request.parent, 'parent');
    const key = idempotencyKey(ctx, request.requestId);
    const messageId = key ? idempotentResourceId(key, 'secure-message') : randomUUID();
    const now = deps.clock();
    const command: MessageThreadCommand = {
      type: 'PostMessage',
      data: { messageId, text: request.text, by, now },
    };
    const { thread } = await loadThread(deps, threadId);
    // Every refusal (membership, closed, text, rate) before anything is sealed.
    decideMessageThread(command, thread);
    const phi = await sealText(deps, thread.patientId, request.text);
    const record = key
      ? requestRecord(
          key,
          { threadId, text: request.text },
          (await deps.keys.getOrCreate(thread.patientId)).key,
        )
      : undefined;
    await runThreadCommand(deps, ctx, threadId, command, { phi, ...(record ? { request: record } : {}) });
    deps.logger.info({ threadId, messageId }, 'secure message posted');
    // The caller just sent this text; echoing it back is not a new disclosure.
    return {
      message: scheduling.SecureMessage.fromPartial({
        name: `messageThreads/${threadId}/messages/${messageId}`,
        author: by.kind === 'patient' ? `patients/${by.id}` : `users/${by.id}`,
        fromPatient: by.kind === 'patient',
        text: request.text,
        createTime: now,
        read: false,
      }),
    };
  };
}

/**
 * A party's command on the thread `request.name` that needs nothing but who and when (MarkRead, CloseThread),
 * answered with the thread as it left it.
 */
function onThread(deps: Deps, type: 'MarkRead' | 'CloseThread') {
  return async (
    request: { readonly name: string },
    ctx: CallContext,
  ): Promise<scheduling.MarkMessageThreadReadResponse & scheduling.CloseMessageThreadResponse> => {
    const by = partyOf(requirePrincipal(ctx));
    const threadId = threadIdOf(request.name, 'name');
    const thread = await runThreadCommand(deps, ctx, threadId, { type, data: { by, now: deps.clock() } });
    return { thread: threadToProto(thread, by) };
  };
}

/** MarkMessageThreadRead: a read receipt up to the other side's newest message. */
export const markMessageThreadRead = (deps: Deps) => onThread(deps, 'MarkRead');

/** CloseMessageThread: the care team closes a thread. */
export const closeMessageThread = (deps: Deps) => onThread(deps, 'CloseThread');

/** Every handler of secure messaging, to merge into the SchedulingService handlers. */
export function messageHandlers(deps: Deps) {
  return {
    createMessageThread: createMessageThread(deps),
    listMessageThreads: listMessageThreads(deps),
    listSecureMessages: listSecureMessages(deps),
    postSecureMessage: postSecureMessage(deps),
    markMessageThreadRead: markMessageThreadRead(deps),
    closeMessageThread: closeMessageThread(deps),
  };
}
