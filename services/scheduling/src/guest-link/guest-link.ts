/**
 * The GuestLink aggregate: the one-time link of a visit guest without an account (an interpreter, a relative),
 * one per guest. Stream `scheduling.guest_link-<guestId>`; the token's SHA-256 indexes it. Pure: no I/O. Event
 * data carries ids, hashes, roles and times only, never a name or a contact.
 */

export const GuestLinkEventType = {
  Issued: 'haven.scheduling.v1.GuestLinkIssued',
  PassCodeAttemptFailed: 'haven.scheduling.v1.GuestLinkPassCodeAttemptFailed',
  Redeemed: 'haven.scheduling.v1.GuestLinkRedeemed',
} as const;

export interface GuestLinkIssued {
  readonly type: typeof GuestLinkEventType.Issued;
  readonly data: {
    readonly visitId: string;
    /** `guests/{id}`. */
    readonly guest: string;
    readonly role: string;
    readonly tokenSha256: string;
    readonly passcodeHash: string;
    readonly expiresAt: string;
    /** `users/{id}` of the host who asked for it. */
    readonly issuedBy: string;
  };
}

export interface GuestLinkPassCodeAttemptFailed {
  readonly type: typeof GuestLinkEventType.PassCodeAttemptFailed;
  readonly data: { readonly guest: string; readonly attempt: number; readonly locked: boolean };
}

export interface GuestLinkRedeemed {
  readonly type: typeof GuestLinkEventType.Redeemed;
  readonly data: {
    readonly guest: string;
    readonly visitId: string;
    readonly tokenId: string;
    readonly expiresAt: string;
  };
}

export type GuestLinkEvent = GuestLinkIssued | GuestLinkPassCodeAttemptFailed | GuestLinkRedeemed;

export type GuestLinkState =
  | { readonly status: 'none' }
  | ({
      readonly status: 'issued' | 'redeemed';
      readonly failedAttempts: number;
      readonly locked: boolean;
    } & GuestLinkIssued['data']);

export const initialGuestLinkState: GuestLinkState = { status: 'none' };

/** Folds one event into the state; unknown types are ignored. */
export function evolveGuestLink(
  state: GuestLinkState,
  event: { type: string; data: unknown },
): GuestLinkState {
  const e = event as GuestLinkEvent;
  if (e.type === GuestLinkEventType.Issued) {
    return state.status === 'none'
      ? { status: 'issued', ...e.data, failedAttempts: 0, locked: false }
      : state;
  }
  if (state.status === 'none') return state;
  switch (e.type) {
    case GuestLinkEventType.PassCodeAttemptFailed:
      return { ...state, failedAttempts: e.data.attempt, locked: e.data.locked };
    case GuestLinkEventType.Redeemed:
      return { ...state, status: 'redeemed' };
    default:
      return state;
  }
}

/**
 * What scheduling knows of the guest's visit from the session context's own events: whether the visit exists and
 * ended, its end time, and the guests invited and not revoked (principal → who invited them).
 */
export interface GuestVisitFacts {
  readonly opened: boolean;
  readonly ended: boolean;
  readonly endTime?: string;
  readonly invited: Readonly<Record<string, { readonly role: string; readonly invitedBy: string }>>;
}

const SESSION = 'haven.session.v1.';

/** Folds a visit stream (`session.visit-<id>`) into {@link GuestVisitFacts}. Pure. */
export function guestVisitFacts(
  events: readonly { type: string; data: Record<string, unknown> }[],
): GuestVisitFacts {
  let opened = false;
  let ended = false;
  let endTime: string | undefined;
  const invited: Record<string, { role: string; invitedBy: string }> = {};
  for (const e of events) {
    const principal = typeof e.data['principal'] === 'string' ? e.data['principal'] : '';
    switch (e.type) {
      case `${SESSION}VisitOpened`:
        opened = true;
        if (typeof e.data['endTime'] === 'string') endTime = e.data['endTime'];
        break;
      case `${SESSION}VisitEnded`:
        ended = true;
        break;
      case `${SESSION}GuestInvited`:
        invited[principal] = {
          role: typeof e.data['role'] === 'string' ? e.data['role'] : '',
          invitedBy: typeof e.data['invitedBy'] === 'string' ? e.data['invitedBy'] : '',
        };
        break;
      case `${SESSION}GuestRevoked`:
        delete invited[principal];
        break;
      default:
        break;
    }
  }
  return { opened, ended, ...(endTime !== undefined ? { endTime } : {}), invited };
}
