/**
 * Who each remote tile is. The media proxy gives every publisher the display `<participant id>.<MAC>` (opaque: no
 * name, no role, nothing a visit member could not already see), and the visit's own read (`GET /api/visits/:id`
 * for staff, `GET /api/patient/visit` for the patient) says which role and device each participant id is. A tile
 * whose participant the page does not know yet says "Participant", never a guess.
 */
import type { RosterEntryView } from '../../../services/gateway/src/patient-visit-view';
import type { ParticipantView } from '../../../services/gateway/src/staff-visit-view';

/** One participant as a tile names them, from the visit read's ParticipantView (staff) or RosterEntryView (patient). */
export interface RosterEntry {
  readonly id: string;
  /** `clinician` | `patient` | `guest` */
  readonly kind: string;
  readonly device?: number;
  /** Another device of this page's own principal. */
  readonly yours?: boolean;
  /** A staff member's display name, as the visit read gives it (never a patient's: see {@link Names}). */
  readonly name?: string;
}

/**
 * Names this page already holds for roles the visit read leaves unnamed: the clinician's console read the
 * patient's name for treatment (a PhiAccessed); the patient's and a guest's pages hold none.
 */
export interface Names {
  readonly patient?: string | null | undefined;
}

/** Participant id → entry. */
export type Roster = ReadonlyMap<string, RosterEntry>;

/**
 * What the roster reads of a visit: a staff page's `GET /api/visits/:id` (`{ visit: VisitDetailView }`) or the
 * patient's `GET /api/patient/visit` (PatientVisitView), the fields it uses.
 */
export type VisitRead =
  | { readonly visit: { readonly participants: readonly StaffReadEntry[] } }
  | { readonly participants: readonly PatientReadEntry[] };

type StaffReadEntry = Pick<ParticipantView, 'id' | 'kind' | 'device'> &
  Partial<Pick<ParticipantView, 'name'>>;
type PatientReadEntry = Pick<RosterEntryView, 'id' | 'kind' | 'device'> &
  Partial<Pick<RosterEntryView, 'yours' | 'name'>>;

/** The roster from a visit read, whichever of the two shapes it has. */
export function rosterOf(read: VisitRead): Map<string, RosterEntry> {
  const list: ReadonlyArray<StaffReadEntry | PatientReadEntry> =
    'visit' in read ? read.visit.participants : read.participants;
  return new Map(
    list.map((p): [string, RosterEntry] => {
      const name = p.name?.trim();
      return [
        p.id,
        {
          id: p.id,
          kind: p.kind,
          device: p.device,
          ...('yours' in p && p.yours === true ? { yours: true } : {}),
          ...(name ? { name } : {}),
        },
      ];
    }),
  );
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

/** Separates a name from the role on a tile: "Dr. Amara Okafor — clinician". */
export const NAME_ROLE_SEPARATOR = ' — ';

/**
 * The words on a participant's tile: their name and role when the page knows the name ("Dr. Amara Okafor —
 * clinician"), else their role; and which device when it is not their first.
 */
export function participantLabel(entry: RosterEntry | undefined, names: Names = {}): string {
  if (!entry) return 'Participant';
  if (entry.yours) return 'Your other device';
  const role = ROLE_WORD[entry.kind] ?? 'Participant';
  const name = entry.name ?? (entry.kind === 'patient' ? names.patient : null);
  const who = name ? `${name}${NAME_ROLE_SEPARATOR}${role.toLowerCase()}` : role;
  const device = entry.device ?? 1;
  if (device <= 1) return who;
  return `${who} (${ORDINAL[device] ?? `device ${device}`}${ORDINAL[device] ? ' device' : ''})`;
}

/** The label of a remote feed: its participant's, and "’s screen" for a screen share. */
export function feedLabel(
  roster: Roster,
  feed: { display: string; kind: 'camera' | 'screen' },
  names: Names = {},
): string {
  const entry = roster.get(participantOfDisplay(feed.display));
  if (feed.kind === 'camera') return participantLabel(entry, names);
  // "Dr. Amara Okafor’s screen", "Clinician’s screen": the name alone when there is one.
  const name =
    entry && !entry.yours ? (entry.name ?? (entry.kind === 'patient' ? names.patient : null)) : null;
  return `${name || participantLabel(entry, names)}’s screen`;
}

/** Where a page reads its visit's roster, from where it gets its media credential. */
export function defaultRosterUrl(role: 'clinician' | 'patient', mediaUrl: string): string {
  return role === 'patient' ? '/api/patient/visit' : mediaUrl.replace(/\/media$/, '');
}
