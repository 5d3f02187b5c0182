/**
 * The MessagesLink aggregate: the link a "new message" notice carries, separate from any visit's link. Its own
 * unguessable token (only its SHA-256 is kept, as the stream's key), one patient, expiring
 * ({@link LinkPolicy.messagesLinkDays} after it is issued); it signs in to that patient's secure messages only and
 * opens no visit. The patient proves the passcode of their latest visit link (the one the clinic gave them; never
 * sent with this link), and wrong passcodes lock this link by the patient link's own policy (link-policy.ts).
 * Pure: no I/O, no Node builtins.
 *
 *   MessagesLinkIssued → (MessagesLinkPasscodeFailed | MessagesLinkRedeemed)*
 */
import { PreconditionError, AlreadyExistsError } from '@haven/errors';
import {
  afterPasscodeAttempt,
  passcodeFailure,
  refuseWhileLocked,
  type PasscodeFailure,
  type PasscodeLockState,
} from '../appointment/link-policy';

export const MessagesLinkEventType = {
  Issued: 'haven.scheduling.v1.MessagesLinkIssued',
  PasscodeFailed: 'haven.scheduling.v1.MessagesLinkPasscodeFailed',
  Redeemed: 'haven.scheduling.v1.MessagesLinkRedeemed',
} as const;

export interface MessagesLinkIssued {
  readonly type: typeof MessagesLinkEventType.Issued;
  readonly data: {
    readonly linkId: string;
    readonly patientId: string;
    readonly tokenSha256: string;
    readonly issuedAt: string;
    readonly expiresAt: string;
  };
}

export interface MessagesLinkPasscodeFailed {
  readonly type: typeof MessagesLinkEventType.PasscodeFailed;
  readonly data: { readonly linkId: string } & PasscodeFailure;
}

export interface MessagesLinkRedeemed {
  readonly type: typeof MessagesLinkEventType.Redeemed;
  readonly data: {
    readonly linkId: string;
    readonly patientPrincipalId: string;
    readonly tokenId: string;
    readonly expiresAt: string;
  };
}

export type MessagesLinkEvent = MessagesLinkIssued | MessagesLinkPasscodeFailed | MessagesLinkRedeemed;

export type MessagesLinkState =
  | { readonly status: 'none' }
  | (PasscodeLockState & {
      readonly status: 'issued';
      readonly linkId: string;
      readonly patientId: string;
      readonly expiresAt: string;
    });

export const initialMessagesLinkState: MessagesLinkState = { status: 'none' };

/** The stream of a messages link: its token's hash (the token itself is never stored). */
export function messagesLinkStream(tokenSha256: string): string {
  return `scheduling.messages_link-${tokenSha256}`;
}

export type MessagesLinkCommand =
  | {
      readonly type: 'IssueMessagesLink';
      readonly data: {
        readonly linkId: string;
        readonly patientId: string;
        readonly tokenSha256: string;
        readonly now: Date;
        readonly expiresAt: Date;
      };
    }
  | {
      readonly type: 'RedeemMessagesLink';
      readonly data: {
        /** Whether the passcode (and date of birth, when required) matched; checked by the handler. */
        readonly credentialsOk: boolean;
        readonly now: Date;
        readonly tokenId: string;
        /** When the patient token it signs in with expires. */
        readonly tokenExpiresAt: Date;
      };
    };

/** Folds one event. Unknown types leave the state unchanged. */
export function evolveMessagesLink(
  state: MessagesLinkState,
  event: { type: string; data: unknown },
): MessagesLinkState {
  const e = event as MessagesLinkEvent;
  if (e.type === MessagesLinkEventType.Issued) {
    if (state.status !== 'none') return state;
    const { linkId, patientId, expiresAt } = e.data;
    return { status: 'issued', linkId, patientId, expiresAt, failures: 0, lockCount: 0 };
  }
  if (state.status === 'none') return state;
  if (e.type === MessagesLinkEventType.PasscodeFailed) return afterPasscodeAttempt(state, e.data);
  if (e.type === MessagesLinkEventType.Redeemed) return afterPasscodeAttempt(state);
  return state;
}

/** Throws PreconditionError when the link cannot be used at `now` (expired, locked). */
export function refuseMessagesLink(state: Extract<MessagesLinkState, { status: 'issued' }>, now: Date): void {
  if (now.getTime() > Date.parse(state.expiresAt)) throw new PreconditionError('this link has expired');
  refuseWhileLocked(state, now);
}

/**
 * Decides a messages-link command. Throws AlreadyExistsError (issued twice), PreconditionError (no such link,
 * expired, locked).
 */
export function decideMessagesLink(
  command: MessagesLinkCommand,
  state: MessagesLinkState,
): MessagesLinkEvent[] {
  if (command.type === 'IssueMessagesLink') {
    if (state.status !== 'none') throw new AlreadyExistsError('the messages link already exists');
    const { linkId, patientId, tokenSha256, now, expiresAt } = command.data;
    return [
      {
        type: MessagesLinkEventType.Issued,
        data: {
          linkId,
          patientId,
          tokenSha256,
          issuedAt: now.toISOString(),
          expiresAt: expiresAt.toISOString(),
        },
      },
    ];
  }
  if (state.status === 'none') throw new PreconditionError('no such link');
  const { credentialsOk, now, tokenId, tokenExpiresAt } = command.data;
  refuseMessagesLink(state, now);
  if (!credentialsOk) {
    return [
      {
        type: MessagesLinkEventType.PasscodeFailed,
        data: { linkId: state.linkId, ...passcodeFailure(state, now) },
      },
    ];
  }
  return [
    {
      type: MessagesLinkEventType.Redeemed,
      data: {
        linkId: state.linkId,
        patientPrincipalId: state.patientId,
        tokenId,
        expiresAt: tokenExpiresAt.toISOString(),
      },
    },
  ];
}
