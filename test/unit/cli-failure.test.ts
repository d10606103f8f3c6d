import assert from 'node:assert/strict';
import {
  ApiAnswerError,
  ApiClient,
  ApiProblemError,
  ApiUnreachableError,
  type FetchLike,
} from '../../cli/api-client.js';
import { describeFailure, InContext } from '../../cli/failure.js';
import { ValidationError } from '../../protocol/validate.js';

/** A fetch that answers every request with one canned response and records what was asked. */
function answering(
  status: number,
  body: string,
  contentType = 'application/json',
): { fetch: FetchLike; calls: Array<{ url: string; init: RequestInit }> } {
  const calls: Array<{ url: string; init: RequestInit }> = [];
  return {
    calls,
    fetch: async (url, init) => {
      calls.push({ url, init });
      return new Response(body, { status, headers: { 'content-type': contentType } });
    },
  };
}

const problem422 = {
  type: 'https://skiff.dev/problems/invalid-compose',
  title: 'Invalid compose file',
  status: 422,
  detail: 'The compose file has 2 problems.',
  errors: [
    { path: 'services.reader.ports[0]', message: 'must be a port number' },
    { path: 'services.tunnel', message: "needs 'image' or 'build'" },
  ],
};

describe('cli failures', () => {
  describe('problem+json answers', () => {
    it('become ApiProblemError and render title, detail and every error path', async () => {
      const { fetch } = answering(422, JSON.stringify(problem422), 'application/problem+json');
      const client = new ApiClient({ baseUrl: 'http://api:8080/', token: 't', fetch });
      const err = await client.listFleets().then(
        () => null,
        (e: unknown) => e,
      );
      assert.ok(err instanceof ApiProblemError);
      assert.equal(
        describeFailure(err),
        [
          'Invalid compose file (HTTP 422 from GET http://api:8080/v1/fleets)',
          '  The compose file has 2 problems.',
          '  services.reader.ports[0]: must be a port number',
          "  services.tunnel: needs 'image' or 'build'",
        ].join('\n'),
      );
    });

    it('add a hint on 401 and keep the context they were wrapped in', () => {
      const err = new ApiProblemError('GET http://api/v1/devices', {
        type: 'about:blank',
        title: 'Unauthorized',
        status: 401,
        detail: 'unknown token',
      });
      const text = describeFailure(new InContext("creating the release in fleet 'meters'", err));
      assert.match(
        text,
        /^creating the release in fleet 'meters': Unauthorized \(HTTP 401 from GET http:\/\/api\/v1\/devices\)\n {2}unknown token\n {2}hint: .*SKIFF_API_TOKEN/,
      );
    });
  });

  describe('other answers', () => {
    it('an error without a problem body names the status and shows the start of the body', async () => {
      const { fetch } = answering(502, '<html>bad gateway</html>', 'text/html');
      const err = await new ApiClient({ baseUrl: 'http://api', token: null, fetch }).info().catch((e: unknown) => e);
      assert.ok(err instanceof ApiAnswerError);
      assert.match(describeFailure(err), /^GET http:\/\/api\/v1\/info: HTTP 502 .*<html>bad gateway<\/html>$/);
    });

    it('a body of the wrong shape is a ValidationError listing each field', async () => {
      const { fetch } = answering(200, JSON.stringify({ name: 'skiff', version: 1 }));
      const err = await new ApiClient({ baseUrl: 'http://api', token: null, fetch }).info().catch((e: unknown) => e);
      assert.ok(err instanceof ValidationError);
      const text = describeFailure(err);
      assert.match(text, /^the answer to GET http:\/\/api\/v1\/info is invalid:/);
      assert.match(text, /\n {2}\/version: must be string/);
      assert.match(text, /\n {2}\/: must have required property 'registry'/);
    });

    it('no answer at all names the URL that could not be reached', async () => {
      const fetch: FetchLike = async () => {
        throw new TypeError('fetch failed', { cause: new Error('connect ECONNREFUSED 127.0.0.1:47999') });
      };
      const err = await new ApiClient({ baseUrl: 'http://127.0.0.1:47999', token: null, fetch })
        .listDevices('meters')
        .catch((e: unknown) => e);
      assert.ok(err instanceof ApiUnreachableError);
      assert.equal(
        describeFailure(err),
        'could not reach the Skiff API at http://127.0.0.1:47999/v1/devices?fleet=meters: connect ECONNREFUSED 127.0.0.1:47999',
      );
    });
  });

  describe('requests', () => {
    it('carry the bearer token and a validated JSON body', async () => {
      const fleet = {
        name: 'meters',
        deviceType: 'rpi4',
        provisioningKey: 'k'.repeat(32),
        releasePolicy: { mode: 'pinned', releaseId: 'r1' },
        pollIntervalSeconds: 60,
        createdAt: '2025-11-23T10:00:00.000Z',
      };
      const { fetch, calls } = answering(200, JSON.stringify(fleet));
      const client = new ApiClient({ baseUrl: 'http://api', token: 'sekrit', fetch });
      assert.deepEqual(await client.pin('meters', '1.4.0'), fleet);
      assert.equal(calls[0]!.url, 'http://api/v1/fleets/meters/pin');
      assert.equal(calls[0]!.init.method, 'POST');
      assert.equal((calls[0]!.init.headers as Record<string, string>).authorization, 'Bearer sekrit');
      assert.equal(calls[0]!.init.body, '{"release":"1.4.0"}');
    });

    it('that break the contract fail before anything is sent', async () => {
      const { fetch, calls } = answering(200, '{}');
      const client = new ApiClient({ baseUrl: 'http://api', token: 't', fetch });
      await assert.rejects(
        client.createFleet({ name: 'Bad Name', deviceType: 'rpi4' }),
        (err: unknown) => err instanceof ValidationError && describeFailure(err).includes('/name: must match pattern'),
      );
      assert.equal(calls.length, 0);
    });
  });
});
