/** Readable names of event types for the audit view. */

const KNOWN: Readonly<Record<string, string>> = {
  'recording.v1.RecordingViewed': 'Recording viewed',
  'recording.v1.RecordingPlaybackGranted': 'Recording playback granted',
  'events.v1.PhiAccessed': 'Health information accessed',
  'security.v1.AccessRefused': 'Access refused',
  'session.v1.IdentityConfirmed': 'Patient identity confirmed',
};

/**
 * "haven.recording.v1.RecordingViewed" (or without "haven.", as the ledger route sends it) → "Recording viewed":
 * the known ones by name, any other by splitting its last segment into words. Returns the input when it is not
 * a dotted type name.
 */
export function eventLabel(type: string): string {
  const known = KNOWN[type.replace(/^haven\./, '')];
  if (known) return known;
  const name = type.split('.').pop() ?? '';
  if (!/^[A-Z][A-Za-z0-9]*$/.test(name)) return type;
  const words = name.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}
