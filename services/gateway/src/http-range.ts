/**
 * HTTP range requests (RFC 9110 §14) for media playback: one `bytes=` range per request; the answer to an open or
 * long range is clipped to a window (the browser asks again from where it stopped), so each answer is one
 * authenticated, audited read of the recording.
 */

/** What a Range header asks for, before the size of the representation is known. */
export type RequestedRange =
  | { readonly kind: 'none' } // no (usable) Range header: the whole representation, 200
  | { readonly kind: 'from'; readonly start: number; readonly end?: number } // bytes=start- / start-end
  | { readonly kind: 'suffix'; readonly length: number } // bytes=-length
  | { readonly kind: 'multiple' }; // several ranges: not served (416)

const SINGLE = /^bytes=(\d{0,15})-(\d{0,15})$/;

/**
 * Parses a Range header. A header that is not a valid `bytes=` range set is ignored (RFC 9110 §14.2: a server
 * MAY ignore it), so the answer is the whole representation. Throws nothing.
 */
export function parseRangeHeader(header: string | undefined): RequestedRange {
  if (header === undefined) return { kind: 'none' };
  const value = header.trim().replace(/\s+/g, '');
  if (/^bytes=[^,]*,/.test(value)) return { kind: 'multiple' };
  const m = SINGLE.exec(value);
  if (!m) return { kind: 'none' };
  const [, first = '', last = ''] = m;
  if (first === '' && last === '') return { kind: 'none' };
  if (first === '') return { kind: 'suffix', length: Number(last) };
  const start = Number(first);
  if (last === '') return { kind: 'from', start };
  const end = Number(last);
  if (end < start) return { kind: 'none' }; // invalid: ignored
  return { kind: 'from', start, end };
}

/** A range resolved against the representation's size: bytes `[offset, offset + length)`. */
export interface ResolvedRange {
  readonly offset: number;
  readonly length: number;
}

/**
 * Resolves a requested range against `size`, clipped to `window` bytes. `undefined` means unsatisfiable (416):
 * a start at or past the end, a zero suffix, several ranges, or an empty representation asked for a range.
 */
export function resolveRange(
  requested: RequestedRange,
  size: number,
  window: number,
): ResolvedRange | undefined {
  switch (requested.kind) {
    case 'none':
      return { offset: 0, length: size };
    case 'multiple':
      return undefined;
    case 'suffix': {
      if (requested.length === 0 || size === 0) return undefined;
      const length = Math.min(requested.length, size, window);
      return { offset: size - Math.min(requested.length, size), length };
    }
    case 'from': {
      if (requested.start >= size) return undefined;
      const end = Math.min(size - 1, requested.end ?? size - 1);
      return { offset: requested.start, length: Math.min(end - requested.start + 1, window) };
    }
  }
}

/** The `Content-Range` of a 206 answer. */
export function contentRange(range: ResolvedRange, size: number): string {
  return `bytes ${range.offset}-${range.offset + range.length - 1}/${size}`;
}

/** The `Content-Range` of a 416 answer. */
export function unsatisfiedRange(size: number): string {
  return `bytes */${size}`;
}
