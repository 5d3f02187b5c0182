/**
 * Who each remote tile is. The media proxy gives every publisher the display `<participant id>.<MAC>` (opaque: no
 * name, no role, nothing a visit member could not already see), and the visit's own read (`GET /api/visits/:id`
 * for staff, `GET /api/patient/visit` for the patient) says which role and device each participant id is. A tile
 * whose participant the page does not know yet says "Participant", never a guess.
 */

/** One participant as the visit read lists them (the gateway's ParticipantView / RosterEntry). */
export interface RosterEntry {
  readonly id: string;
  /** `clinician` | `patient` | `guest` */
  readonly kind: string;
  readonly device?: number;
  /** Another device of this page's own principal. */
  readonly yours?: boolean;
}

/** Participant id → entry. */
export type Roster = ReadonlyMap<string, RosterEntry>;

/** The roster from a visit read, whichever of the two shapes it has. */
export function rosterOf(body: unknown): Map<string, RosterEntry> {
  const b = body as { participants?: unknown; visit?: { participants?: unknown } } | null;
  const list = b?.visit?.participants ?? b?.participants;
  const roster = new Map<string, RosterEntry>();
  if (!Array.isArray(list)) return roster;
  for (const p of list as unknown[]) {
    const e = p as Partial<RosterEntry> | null;
    if (typeof e?.id === 'string' && typeof e.kind === 'string') {
      roster.set(e.id, {
        id: e.id,
        kind: e.kind,
        ...(typeof e.device === 'number' ? { device: e.device } : {}),
        ...(e.yours === true ? { yours: true } : {}),
      });
    }
  }
  return roster;
}

/** The participant id in a publisher display issued by the media proxy (`<participant id>.<MAC>`). */
export function participantOfDisplay(display: string): string {
  const dot = display.indexOf('.');
  return dot < 0 ? display : display.slice(0, dot);
}

const ORDINAL = ['', 'first', 'second', 'third', 'fourth', 'fifth'];

const ROLE_WORD: Readonly<Record<string, string>> = {
  clinician: 'Clinician',
  patient: 'Patient',
  guest: 'Guest',
  interpreter: 'Interpreter',
  family: 'Family member',
};

/** The words on a participant's tile: their role, and which device when it is not their first. */
export function participantLabel(entry: RosterEntry | undefined): string {
  if (!entry) return 'Participant';
  if (entry.yours) return 'Your other device';
  const role = ROLE_WORD[entry.kind] ?? 'Participant';
  const device = entry.device ?? 1;
  if (device <= 1) return role;
  return `${role} (${ORDINAL[device] ?? `device ${device}`}${ORDINAL[device] ? ' device' : ''})`;
}

/** The label of a remote feed: its participant's, and "’s screen" for a screen share. */
export function feedLabel(roster: Roster, feed: { display: string; kind: 'camera' | 'screen' }): string {
  const who = participantLabel(roster.get(participantOfDisplay(feed.display)));
  return feed.kind === 'screen' ? `${who}’s screen` : who;
}

/** Where a page reads its visit's roster, from where it gets its media credential. */
export function defaultRosterUrl(role: 'clinician' | 'patient', mediaUrl: string): string {
  return role === 'patient' ? '/api/patient/visit' : mediaUrl.replace(/\/media$/, '');
}
