/**
 * Secure messages outside visits (scheduling's message threads), for the staff app (`/api/messages/*`, the
 * `haven_access` cookie: clinicians their care threads, the front desk the scheduling threads) and for the
 * patient (`/api/patient/messages/*`, the `haven_patient` cookie of their link and passcode, from the visit or
 * from `POST /api/messages/join`). Who may read or
 * post is scheduling's decision; every read of a thread is a PhiAccessed there. The text is plain text: pages
 * render it as text.
 */
import type { Request, Router } from 'express';
import { scheduling } from '@haven/proto';
import type { RouteContext } from '../context';
import { choiceOf, lastSegment, PATH_ID, queryText, stringField } from '../http';
import { anyPatient, staff } from './guards';
import { oneCall } from './one-call';
import { redeemRoute, sendJoinFailure } from './patient-join';
import type {
  MessageThreadAnswerView,
  MessageThreadListView,
  MessageThreadReadView,
  MessageThreadView,
  MessagesJoinedView,
  SecureMessagePostedView,
  SecureMessageView,
} from '../message-thread-view';

const TOPICS: Readonly<Record<string, scheduling.MessageThreadTopic>> = {
  care: scheduling.MessageThreadTopic.MESSAGE_THREAD_TOPIC_CARE,
  scheduling: scheduling.MessageThreadTopic.MESSAGE_THREAD_TOPIC_SCHEDULING,
};
const FIELDS = { text: 'text', topic: 'topic', patient: 'patientId', clinician: 'clinicianId' } as const;
const STAFF_ROLES = ['clinician', 'front_desk'] as const;

/** A thread as the pages see it (no text). */
export function threadView(t: scheduling.MessageThread | undefined): MessageThreadView {
  return {
    id: lastSegment(t?.name ?? ''),
    patientId: lastSegment(t?.patient ?? ''),
    topic: t?.topic === scheduling.MessageThreadTopic.MESSAGE_THREAD_TOPIC_CARE ? 'care' : 'scheduling',
    clinicianId: t?.clinician ? lastSegment(t.clinician) : null,
    open: t?.state === scheduling.MessageThreadState.MESSAGE_THREAD_STATE_OPEN,
    messageCount: t?.messageCount ?? 0,
    unreadCount: t?.unreadCount ?? 0,
    createdAt: t?.createTime?.toISOString() ?? null,
    updatedAt: t?.updateTime?.toISOString() ?? null,
  };
}

/** A message as the pages see it. */
export function messageView(m: scheduling.SecureMessage): SecureMessageView {
  return {
    id: lastSegment(m.name),
    fromPatient: m.fromPatient,
    author: m.author,
    text: m.text,
    at: m.createTime?.toISOString() ?? null,
    read: m.read,
  };
}

/** The calls both doors make, with the caller's token. */
function threadCalls(ctx: RouteContext) {
  return {
    list: (patientOf: (req: Request) => string) =>
      oneCall(ctx, {
        client: 'scheduling',
        method: 'listMessageThreads',
        request: ({ req }) => {
          const patientId = patientOf(req);
          return scheduling.ListMessageThreadsRequest.fromPartial({
            patient: patientId ? `patients/${patientId}` : '',
            pageSize: 100,
          });
        },
        view: (r): MessageThreadListView => ({ threads: r.threads.map(threadView) }),
      }),
    create: (forPatient: boolean) =>
      oneCall(ctx, {
        client: 'scheduling',
        method: 'createMessageThread',
        request: ({ body, violations }) => {
          const topic = choiceOf(TOPICS, body['topic']);
          if (topic === undefined)
            violations.push({ field: 'topic', description: 'must be care or scheduling' });
          const patientId = forPatient ? '' : (stringField(body, 'patientId', 64, violations) ?? '');
          const clinicianId = stringField(body, 'clinicianId', 64, violations) ?? '';
          if (!forPatient && !PATH_ID.test(patientId))
            violations.push({ field: 'patientId', description: 'is required' });
          if (clinicianId !== '' && !PATH_ID.test(clinicianId))
            violations.push({ field: 'clinicianId', description: 'is not an id' });
          return scheduling.CreateMessageThreadRequest.fromPartial({
            patient: patientId ? `patients/${patientId}` : '',
            topic: topic ?? scheduling.MessageThreadTopic.MESSAGE_THREAD_TOPIC_UNSPECIFIED,
            clinician: clinicianId ? `users/${clinicianId}` : '',
          });
        },
        status: 201,
        view: (r): MessageThreadAnswerView => ({ thread: threadView(r.thread) }),
      }),
    read: oneCall(ctx, {
      client: 'scheduling',
      method: 'listSecureMessages',
      request: ({ id }) =>
        scheduling.ListSecureMessagesRequest.fromPartial({ parent: `messageThreads/${id}`, pageSize: 500 }),
      headers: () => ({ 'cache-control': 'no-store' }),
      view: (r): MessageThreadReadView => ({
        thread: threadView(r.thread),
        messages: r.messages.map(messageView),
      }),
    }),
    post: oneCall(ctx, {
      client: 'scheduling',
      method: 'postSecureMessage',
      request: ({ id, body, violations }) => {
        const text = stringField(body, 'text', 4_000 * 2, violations) ?? '';
        if (text.trim() === '') violations.push({ field: 'text', description: 'is required' });
        return scheduling.PostSecureMessageRequest.fromPartial({ parent: `messageThreads/${id}`, text });
      },
      status: 201,
      view: (r): SecureMessagePostedView => ({ message: r.message ? messageView(r.message) : null }),
    }),
    markRead: oneCall(ctx, {
      client: 'scheduling',
      method: 'markMessageThreadRead',
      request: ({ id }) => ({ name: `messageThreads/${id}` }),
      view: (r): MessageThreadAnswerView => ({ thread: threadView(r.thread) }),
    }),
    close: oneCall(ctx, {
      client: 'scheduling',
      method: 'closeMessageThread',
      request: ({ id }) => ({ name: `messageThreads/${id}` }),
      view: (r): MessageThreadAnswerView => ({ thread: threadView(r.thread) }),
    }),
  };
}

/**
 * Registers, on /api: GET/POST /messages/threads, GET /messages/threads/:id, POST /messages/threads/:id/messages,
 * /read and /close (staff), and the patient's GET/POST /patient/messages/threads, GET
 * /patient/messages/threads/:id, POST /patient/messages/threads/:id/messages and /read.
 */
export function registerMessageRoutes(api: Router, ctx: RouteContext): void {
  const calls = threadCalls(ctx);

  // The link from a visit (or from a "new message" notice) and its passcode sign in to the secure messages, also
  // after the visit: a 30-minute patient cookie that opens no visit.
  api.post(
    '/messages/join',
    redeemRoute(ctx, {
      rpc: 'scheduling.RedeemPatientLink',
      redeem: (res, request) =>
        ctx.call(res, undefined, ctx.clients.scheduling, 'redeemPatientLink', {
          ...request,
          forMessages: true,
        }),
      failure: sendJoinFailure,
      view: (): MessagesJoinedView => ({ ok: true }),
    }),
  );
  const door = (rpc: string) => ({ rpc, roles: STAFF_ROLES, fields: FIELDS });

  api.get(
    '/messages/threads',
    staff(
      ctx,
      door('scheduling.ListMessageThreads'),
      calls.list((req) => (PATH_ID.test(queryText(req, 'patientId')) ? queryText(req, 'patientId') : '')),
    ),
  );
  api.post('/messages/threads', staff(ctx, door('scheduling.CreateMessageThread'), calls.create(false)));
  api.get('/messages/threads/:id', staff(ctx, door('scheduling.ListSecureMessages'), calls.read));
  api.post('/messages/threads/:id/messages', staff(ctx, door('scheduling.PostSecureMessage'), calls.post));
  api.post(
    '/messages/threads/:id/read',
    staff(ctx, door('scheduling.MarkMessageThreadRead'), calls.markRead),
  );
  api.post('/messages/threads/:id/close', staff(ctx, door('scheduling.CloseMessageThread'), calls.close));

  api.get(
    '/patient/messages/threads',
    anyPatient(
      ctx,
      'scheduling.ListMessageThreads',
      calls.list(() => ''),
    ),
  );
  api.post(
    '/patient/messages/threads',
    anyPatient(ctx, 'scheduling.CreateMessageThread', calls.create(true)),
  );
  api.get('/patient/messages/threads/:id', anyPatient(ctx, 'scheduling.ListSecureMessages', calls.read));
  api.post(
    '/patient/messages/threads/:id/messages',
    anyPatient(ctx, 'scheduling.PostSecureMessage', calls.post),
  );
  api.post(
    '/patient/messages/threads/:id/read',
    anyPatient(ctx, 'scheduling.MarkMessageThreadRead', calls.markRead),
  );
}
