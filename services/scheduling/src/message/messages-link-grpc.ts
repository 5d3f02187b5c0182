/**
 * The messages link of a "new message" notice: issued by the notice's sender (one per notice sent), redeemed
 * through RedeemPatientLink with `for_messages` (the same public door as a visit's link, so the gateway's
 * POST /api/messages/join takes either). A messages token is never a visit's: RedeemPatientLink without
 * `for_messages` does not know it, and the patient token it signs in with names `messages/<linkId>`, which no
 * visit route accepts. The passcode is the one of the patient's latest visit link; wrong ones are counted and
 * lock this link by the patient link's policy.
 */
import { randomUUID } from 'node:crypto';
import { PreconditionError, ValidationError } from '@haven/errors';
import type { scheduling } from '@haven/proto';
import { callMetadata, handleCommand, type CallContext, type CommandMetadata } from '@haven/service';
import type { ExistingAppointment } from '../appointment/appointment';
import { LinkPolicy, wrongPasscodeRefusal } from '../appointment/link-policy';
import type { SchedulingDeps } from '../deps';
import { linkTokenHash, newLinkToken, verifyPasscode } from '../link/secrets';
import { loadPatient, openPatientPhi } from '../patient/grpc';
import {
  decideMessagesLink,
  evolveMessagesLink,
  initialMessagesLinkState,
  messagesLinkStream,
  MessagesLinkEventType,
  refuseMessagesLink,
  type MessagesLinkCommand,
  type MessagesLinkEvent,
  type MessagesLinkState,
} from './messages-link';

const DAY = 24 * 60 * 60_000;

async function run(
  deps: IssueDeps,
  tokenSha256: string,
  command: MessagesLinkCommand,
  metadata: CommandMetadata,
) {
  return handleCommand({
    store: deps.store,
    stream: messagesLinkStream(tokenSha256),
    decide: decideMessagesLink,
    evolve: evolveMessagesLink,
    initialState: initialMessagesLinkState,
    command,
    metadata,
    now: deps.clock,
  });
}

type IssueDeps = Pick<SchedulingDeps, 'store' | 'clock'> &
  Partial<{ readonly readModel: Pick<SchedulingDeps['readModel'], 'appointments'> }>;

/** The patient's latest visit link (its passcode is the one the messages link asks for), if any. */
function latestPatientLink(deps: IssueDeps, patientId: string): ExistingAppointment['link'] {
  let latest: ExistingAppointment['link'];
  for (const a of deps.readModel?.appointments() ?? []) {
    if (a.patientId !== patientId || !a.link) continue;
    if (!latest || a.link.issuedAt > latest.issuedAt) latest = a.link;
  }
  return latest;
}

/**
 * Issues a messages link for `patientId` and returns its token (shown once, in the notice), or undefined when
 * the patient has no visit link yet (no passcode to prove). Throws when the store cannot be reached.
 */
export async function issueMessagesLink(
  deps: IssueDeps,
  patientId: string,
  metadata: CommandMetadata,
): Promise<string | undefined> {
  if (!latestPatientLink(deps, patientId)) return undefined;
  const token = newLinkToken();
  const tokenSha256 = linkTokenHash(token);
  const now = deps.clock();
  await run(
    deps,
    tokenSha256,
    {
      type: 'IssueMessagesLink',
      data: {
        linkId: randomUUID(),
        patientId,
        tokenSha256,
        now,
        expiresAt: new Date(now.getTime() + LinkPolicy.messagesLinkDays * DAY),
      },
    },
    metadata,
  );
  return token;
}

/** The messages link of a token's hash (status `none` when there is none). */
export async function loadMessagesLink(
  deps: SchedulingDeps,
  tokenSha256: string,
): Promise<MessagesLinkState> {
  let state: MessagesLinkState = initialMessagesLinkState;
  for (const e of await deps.store.read(messagesLinkStream(tokenSha256)))
    state = evolveMessagesLink(state, e);
  return state;
}

/**
 * Redeems a messages link with the passcode of the patient's latest visit link (and their date of birth when
 * that link asks for it). Throws PreconditionError (expired, locked), UnauthenticatedError (wrong passcode, with
 * the attempts left), ValidationError (date of birth missing); each refusal is an AccessRefused event.
 */
export async function redeemMessagesLink(
  deps: SchedulingDeps,
  request: scheduling.RedeemPatientLinkRequest,
  ctx: CallContext,
  state: Extract<MessagesLinkState, { status: 'issued' }>,
  tokenSha256: string,
): Promise<scheduling.RedeemPatientLinkResponse> {
  const now = deps.clock();
  const target = `messagesLinks/${state.linkId}`;
  try {
    refuseMessagesLink(state, now);
  } catch (error) {
    if (error instanceof PreconditionError) {
      ctx.recordRefusal({ code: 'LINK_NOT_USABLE', reason: error.message, target });
    }
    throw error;
  }
  const link = latestPatientLink(deps, state.patientId);
  let credentialsOk = link ? await verifyPasscode(request.passcode, link.passcodeHash) : false;
  if (link?.dateOfBirthRequired) {
    if (request.dateOfBirth === '') {
      throw new ValidationError([{ field: 'date_of_birth', description: 'is required for this link' }]);
    }
    const phi = await openPatientPhi(deps, await loadPatient(deps, state.patientId));
    credentialsOk = credentialsOk && phi['dateOfBirth'] === request.dateOfBirth;
  }
  const tokenId = randomUUID();
  const expiresAt = new Date(now.getTime() + LinkPolicy.messagesTokenMinutes * 60_000);
  const result = await run(
    deps,
    tokenSha256,
    { type: 'RedeemMessagesLink', data: { credentialsOk, now, tokenId, tokenExpiresAt: expiresAt } },
    callMetadata(
      ctx,
      credentialsOk ? { kind: 'patient', id: state.patientId } : { kind: 'anonymous', id: 'messages-link' },
    ),
  );
  const event = result.events[0] as MessagesLinkEvent | undefined;
  if (event?.type === MessagesLinkEventType.PasscodeFailed) {
    const { attempt, locked } = event.data;
    deps.logger.warn({ linkId: state.linkId, attempt, locked }, 'wrong messages link passcode');
    const { code, reason, error } = wrongPasscodeRefusal(event.data, 'the clinic');
    ctx.recordRefusal({ code, reason, target, kind: 'unauthenticated' });
    throw error;
  }
  if (event?.type !== MessagesLinkEventType.Redeemed) throw new Error('unexpected redeem outcome');
  // A messages token names the link (`messages/<linkId>`), never an appointment: it opens no visit.
  const accessToken = await deps.patientTokens.sign(
    { subject: state.patientId, appointmentId: state.linkId, expiresAt, tokenId, forMessages: true },
    now,
  );
  deps.logger.info({ linkId: state.linkId }, 'messages link redeemed');
  return { accessToken, expireTime: expiresAt, appointment: '', patient: `patients/${state.patientId}` };
}
