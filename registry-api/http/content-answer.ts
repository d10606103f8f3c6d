// The answer to a GET of a content-addressed file (a release file, a host OS bundle): its digest is the entity tag,
// strong and the same on every API instance, so If-None-Match answers 304 and Range/If-Range resume a download.
// Sets the headers and status; the caller sends the bytes the answer names.
import type { Context } from 'koa';
import { type ByteRange, rangeAnswer } from './byte-range.js';
import { isFresh } from './etag.js';
import { ProblemError } from './problem.js';

export type ContentAnswer = { kind: 'not-modified' } | { kind: 'whole' } | { kind: 'partial'; range: ByteRange };

/** `outside`: the 416 problem's detail, for a Range that lies outside the file. */
export function answerContentAddressed(ctx: Context, digest: string, size: number, outside: string): ContentAnswer {
  const etag = `"${digest.replace(/^sha256:/, '')}"`;
  ctx.set('ETag', etag);
  ctx.set('Accept-Ranges', 'bytes');
  ctx.set('Cache-Control', 'private, no-transform');
  if (isFresh(ctx.get('If-None-Match') || undefined, etag)) {
    ctx.status = 304;
    return { kind: 'not-modified' };
  }
  const answer = rangeAnswer(ctx.get('Range') || undefined, size, etag, ctx.get('If-Range') || undefined);
  if (answer.kind === 'unsatisfiable') {
    throw new ProblemError(416, 'range-not-satisfiable', outside, undefined, {
      'Content-Range': `bytes */${size}`,
      'Accept-Ranges': 'bytes',
    });
  }
  ctx.type = 'application/octet-stream';
  if (answer.kind === 'partial') {
    const { start, end } = answer.range;
    ctx.status = 206;
    ctx.set('Content-Range', `bytes ${start}-${end}/${size}`);
  } else {
    ctx.status = 200;
  }
  return answer;
}
