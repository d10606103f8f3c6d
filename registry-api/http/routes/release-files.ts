// The files releases carry: uploaded by `skiff push` before the release that names them, kept per fleet by digest,
// downloaded by the fleet's devices with Range (a device resumes where a dropped link cut it off).
import { createHash } from 'node:crypto';
import type { Context } from 'koa';
import { MAX_RELEASE_FILE_BYTES } from '../../../protocol/compose/files.js';
import { ROUTES } from '../../../protocol/http/routes.js';
import type { RouteDeps } from '../../deps.js';
import { authenticatedDevice } from '../auth.js';
import { answerContentAddressed } from '../content-answer.js';
import { badRequest, notFound, ProblemError } from '../problem.js';
import type { Register } from '../register.js';
import { BODY_TIMEOUT_MS } from '../request-body.js';
import { fleetOr404 } from './fleets.js';

const DIGEST = /^sha256:[a-f0-9]{64}$/;

function digestOf(param: string | undefined): string {
  if (param === undefined || !DIGEST.test(param))
    throw badRequest('invalid-digest', 'a release file is named by its digest: sha256: and 64 lowercase hex digits');
  return param;
}

/** The whole body, refused past `limit` bytes or after BODY_TIMEOUT_MS: a file is small, its upload is short. */
async function bodyOf(ctx: Context, limit: number, what: string): Promise<Buffer> {
  const declared = Number(ctx.get('Content-Length') || '0');
  if (declared > limit)
    throw new ProblemError(413, 'too-large', `${what} is ${declared} bytes; a release file is at most ${limit} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  const timer = setTimeout(() => ctx.req.destroy(new Error('body timeout')), BODY_TIMEOUT_MS);
  try {
    for await (const chunk of ctx.req) {
      const bytes = chunk as Buffer;
      size += bytes.length;
      if (size > limit) {
        throw new ProblemError(
          413,
          'too-large',
          `${what} is larger than ${limit} bytes, the most a release file may be`,
          undefined,
          { Connection: 'close' },
        );
      }
      chunks.push(bytes);
    }
  } catch (err) {
    if (err instanceof ProblemError) throw err;
    throw badRequest('incomplete-body', `${what}: the upload did not complete within ${BODY_TIMEOUT_MS / 1000} s`);
  } finally {
    clearTimeout(timer);
  }
  return Buffer.concat(chunks, size);
}

export function releaseFileRoutes(on: Register, deps: RouteDeps): void {
  const { store, logger } = deps;

  on(ROUTES.putReleaseFile, async (ctx, request) => {
    const fleet = await fleetOr404(store.fleets, request.params.fleet);
    const digest = digestOf(request.params.digest);
    const what = `file ${digest.slice(0, 19)}… of fleet '${fleet.name}'`;
    if (ctx.request.is('application/octet-stream') === false) {
      throw new ProblemError(
        415,
        'unsupported-media-type',
        `the body of ${ctx.method} ${ctx.path} must be the file as application/octet-stream, not ${ctx.request.type || 'untyped'}`,
      );
    }
    const content = await bodyOf(ctx, MAX_RELEASE_FILE_BYTES, what);
    const actual = `sha256:${createHash('sha256').update(content).digest('hex')}`;
    if (actual !== digest)
      throw badRequest(
        'digest-mismatch',
        `${what}: the ${content.length} bytes sent hash to ${actual}, not the digest named`,
      );
    const created = await store.releaseFiles.put(fleet.name, digest, content, deps.now().toISOString());
    if (created) logger.info({ fleet: fleet.name, digest, size: content.length }, 'release file stored');
    ctx.status = created ? 201 : 200;
    ctx.body = { digest, size: content.length, created };
  });

  on(ROUTES.releaseFile, async (ctx, request) => {
    const me = authenticatedDevice(ctx);
    const digest = digestOf(request.params.digest);
    // Another fleet's file is no business of this device: for it, the file does not exist.
    const content = await store.releaseFiles.get(me.fleet, digest);
    if (content === null) throw notFound(`fleet '${me.fleet}' has no release file ${digest}`);
    const size = content.length;
    const answer = answerContentAddressed(ctx, digest, size, `the Range lies outside the file of ${size} bytes`);
    if (answer.kind === 'partial') ctx.body = content.subarray(answer.range.start, answer.range.end + 1);
    else if (answer.kind === 'whole') ctx.body = content;
  });
}
