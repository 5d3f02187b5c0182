/**
 * Times as the clinic reads them: in the clinic's time zone (HAVEN_CLINIC_TIME_ZONE), with the zone's name and
 * its UTC offset at that instant, so a message stays right across a daylight-saving change and is never a raw
 * UTC timestamp. Pure: Intl only, no Node builtins.
 */

/** True when `timeZone` is an IANA time zone this runtime knows. Throws nothing. */
export function isTimeZone(timeZone: string): boolean {
  if (timeZone === '') return false;
  try {
    new Intl.DateTimeFormat('en-GB', { timeZone });
    return true;
  } catch {
    return false;
  }
}

/** The host's time zone (the default clinic time zone), `UTC` when the runtime does not say. */
export function hostTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

/** One formatter per zone (building an Intl.DateTimeFormat costs far more than formatting with it). */
const formats = new Map<string, Intl.DateTimeFormat>();

function formatIn(timeZone: string): Intl.DateTimeFormat {
  let format = formats.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-GB', {
      timeZone,
      weekday: 'short',
      day: 'numeric',
      month: 'short',
      year: 'numeric',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
      timeZoneName: 'longOffset',
    });
    if (formats.size >= 64) formats.clear();
    formats.set(timeZone, format);
  }
  return format;
}

function parts(at: Date, timeZone: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of formatIn(timeZone).formatToParts(at)) out[p.type] = p.value;
  return out;
}

function day(p: Record<string, string>): string {
  return `${p['weekday']} ${p['day']} ${p['month']} ${p['year']}`;
}

function offset(p: Record<string, string>): string {
  const name = p['timeZoneName'] ?? '';
  return name === 'GMT' ? 'UTC' : name.replace(/^GMT/, 'UTC');
}

/**
 * A time span in the clinic's zone: `Sun 6 Dec 2026 10:00–10:30 (Europe/Berlin, UTC+01:00)`; a span over two
 * days (or over an offset change) names both ends in full. Throws RangeError on an unknown zone.
 */
export function formatClinicSpan(start: Date, end: Date, timeZone: string): string {
  const a = parts(start, timeZone);
  const b = parts(end, timeZone);
  if (day(a) === day(b) && offset(a) === offset(b)) {
    return `${day(a)} ${a['hour']}:${a['minute']}–${b['hour']}:${b['minute']} (${timeZone}, ${offset(a)})`;
  }
  return (
    `${day(a)} ${a['hour']}:${a['minute']} (${offset(a)}) – ` +
    `${day(b)} ${b['hour']}:${b['minute']} (${offset(b)}) ${timeZone}`
  );
}
