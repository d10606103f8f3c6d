// Range requests (RFC 9110 section 14) for files the API serves whole: a device on a link that drops resumes a
// large download from the byte it has. One range per request is what resuming needs; a multi-range request gets
// the whole file (the RFC lets a server ignore Range), so no multipart answers exist.

/** Inclusive byte positions, as Content-Range writes them. */
export interface ByteRange {
  start: number;
  end: number;
}

export type RangeAnswer =
  | { kind: 'whole' }
  | { kind: 'partial'; range: ByteRange }
  /** Syntactically a range, but none of it lies inside the file: 416. */
  | { kind: 'unsatisfiable' };

/**
 * What to answer a GET of a `size`-byte file with this Range header. `ifRange`: the If-Range header; when it names
 * another entity tag than `etag` (the file changed since the client's first part), the whole file is sent.
 */
export function rangeAnswer(header: string | undefined, size: number, etag: string, ifRange?: string): RangeAnswer {
  if (header === undefined || header.trim() === '') return { kind: 'whole' };
  // A date in If-Range cannot be compared strongly with a content-addressed file: send it whole, as RFC 9110 allows.
  if (ifRange !== undefined && ifRange.trim() !== '' && ifRange.trim() !== etag) return { kind: 'whole' };
  const match = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  // Other units, several ranges or junk: Range is ignored, not an error.
  if (!match) return { kind: 'whole' };
  const [, first = '', last = ''] = match;
  if (first === '' && last === '') return { kind: 'whole' };
  if (first === '') {
    // bytes=-N: the last N bytes.
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'partial', range: { start: Math.max(0, size - suffix), end: size - 1 } };
  }
  const start = Number(first);
  // An end before the start makes the header invalid (ignored); a valid one starting past the end is unsatisfiable.
  if (last !== '' && Number(last) < start) return { kind: 'whole' };
  if (start >= size) return { kind: 'unsatisfiable' };
  const end = last === '' ? size - 1 : Number(last);
  return { kind: 'partial', range: { start, end: Math.min(end, size - 1) } };
}
