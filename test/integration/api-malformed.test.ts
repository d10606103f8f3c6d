// Malformed input against every route of the real registry-api: a few hundred bad bodies, headers and ids,
// generated from a seeded PRNG so a failure replays exactly. Every answer must be a 4xx problem+json whose body
// parses as a protocol Problem with the same status; none may be a 5xx or anything else. Bodies are checked
// against the protocol schema before they are sent, so only requests that are really invalid are counted.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { TSchema } from '@sinclair/typebox';
import { NewApiTokenSchema } from '../../protocol/access.js';
import { FleetSchema, ProblemSchema, type Fleet } from '../../protocol/api.js';
import { check, parse } from '../../protocol/validate.js';
import { paths } from '../../protocol/http/paths.js';
import { createLogger } from '../../lib/logger.js';
import { createApp } from '../../registry-api/http/app.js';
import { registryTokenIssuerOf } from '../../registry-api/delivery/registry-token.js';
import { signingKeyOf } from '../../registry-api/keys/signing-key.js';
import type { Store } from '../../registry-api/store/index.js';
import { openStore } from '../../registry-api/store/open.js';
import { testStoreLocation, type TestStoreLocation } from '../../harness/test-store.js';
import { pathParameters, routeLabel } from '../../protocol/http/route.js';
import { routeList } from '../../protocol/http/routes.js';
import { TestDevice } from '../../harness/test-device.js';

const ADMIN_TOKEN = 'malformed-admin-token-0123456789abcdef';
const SEED = 0x5eed_2026;
const DEVICE_A = 'aaaaaaaa-0000-4000-8000-0000000000aa';
const DEVICE_B = 'bbbbbbbb-0000-4000-8000-0000000000bb';
const IMAGE = `127.0.0.1:5000/meters/reader@sha256:${'b'.repeat(64)}`;

/** mulberry32: small, fast, and the same sequence for the same seed on every machine. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Gen {
  constructor(private readonly next: () => number) {}
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)] as T;
  }
  chars(alphabet: string, length: number): string {
    let out = '';
    for (let i = 0; i < length; i += 1) out += alphabet[this.int(0, alphabet.length - 1)];
    return out;
  }
}

interface Sent {
  /** What kind of bad input, for the failure list. */
  label: string;
  method: string;
  /** Raw request target, sent as is (no client-side normalisation of `..`). */
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
}

interface Received {
  status: number;
  contentType: string;
  text: string;
}

/** node:http rather than fetch: it sends the path exactly as given and any body with any content-type. */
function send(base: URL, sent: Sent): Promise<Received> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: base.hostname,
        port: base.port,
        method: sent.method,
        path: sent.path,
        headers: { ...sent.headers, ...(sent.body ? { 'content-length': String(sent.body.length) } : {}) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            contentType: String(res.headers['content-type'] ?? ''),
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(sent.body);
  });
}

/** Why an answer breaks the contract, or null when it is a proper 4xx problem. */
function violationOf(answer: Received): string | null {
  if (answer.status < 400 || answer.status > 499) return `status ${answer.status}`;
  if (!/^application\/problem\+json/.test(answer.contentType)) return `content-type '${answer.contentType}'`;
  let json: unknown;
  try {
    json = JSON.parse(answer.text);
  } catch {
    return 'a body that is not JSON';
  }
  const issues = check(ProblemSchema, json);
  if (issues.length > 0) return `a body that is no Problem (${issues.map((i) => `${i.path} ${i.message}`).join('; ')})`;
  if ((json as { status: number }).status !== answer.status)
    return `a problem whose status differs from ${answer.status}`;
  return null;
}

type Auth = 'admin' | 'device' | 'none';

interface Route {
  method: string;
  /** The path with its one id (already encoded); routes without an id ignore it. */
  path(id: string): string;
  /** The id a valid request uses, so bad bodies and headers reach the code behind the route. */
  validId: string;
  hasId: boolean;
  auth: Auth;
  /** The schema the body must match; absent for routes that read no body. */
  body?: TSchema;
  /** A valid body, mutated into invalid ones. */
  sample?: Record<string, unknown>;
}

describe('registry-api under malformed input', function () {
  this.timeout(120_000);
  let dir: string;
  let store: Store;
  let database: TestStoreLocation | undefined;
  let server: Server;
  let base: URL;
  let fleet: Fleet;
  let deviceKey: string;
  let tokenId: string;
  const results: Array<{ sent: Sent; answer: Received }> = [];

  const e = encodeURIComponent;
  let routes: Route[];

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'skiff-malformed-'));
    database = await testStoreLocation(dir);
    store = await openStore(database.location);
    const logger = createLogger('registry-api-malformed-test');
    logger.level = process.env.SKIFF_LOG_LEVEL ?? 'silent';
    const tokenKeyFile = path.join(dir, 'registry-token-key.pem');
    await writeFile(
      tokenKeyFile,
      generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ format: 'pem', type: 'pkcs8' }),
    );
    const registryToken = registryTokenIssuerOf({
      keyFile: tokenKeyFile,
      service: 'skiff-registry',
      issuer: 'skiff-registry-api',
    });
    const app = createApp({
      store,
      adminToken: ADMIN_TOKEN,
      registry: null,
      version: '0.0.0-test',
      signingKey: signingKeyOf(dir, null),
      logger,
      registryToken,
    });
    server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);

    const json = async (method: string, url: string, body: unknown, token?: string) => {
      const answer = await send(base, {
        label: 'setup',
        method,
        path: url,
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: Buffer.from(JSON.stringify(body)),
      });
      assert.ok(answer.status < 300, `${method} ${url}: ${answer.text}`);
      return JSON.parse(answer.text) as unknown;
    };
    fleet = parse(
      FleetSchema,
      await json('POST', paths.fleets, { name: 'meters', deviceType: 'generic-amd64' }, ADMIN_TOKEN),
      'the fleet',
    );
    await json(
      'POST',
      paths.releases('meters'),
      { compose: 'services:\n  r:\n    build: .\n', images: { r: IMAGE }, version: '1' },
      ADMIN_TOKEN,
    );
    await json('POST', paths.users, { name: 'vera', role: 'viewer' }, ADMIN_TOKEN);
    tokenId = parse(NewApiTokenSchema, await json('POST', paths.userTokens('vera'), {}, ADMIN_TOKEN), 'the token').id;
    const join = { fleet: 'meters', provisioningKey: fleet.provisioningKey, deviceType: 'rpi4' };
    deviceKey = (await TestDevice.create(DEVICE_A).token(base.origin, join)).token;
    await TestDevice.create(DEVICE_B).token(base.origin, join);

    // Every route of the table (what the API documents and enforces), so a route added there is fuzzed too. The
    // last path parameter is the one the bad-id tests vary; the others take a valid value.
    const validIds: Record<string, string> = { fleet: 'meters', uuid: DEVICE_A, name: 'vera', id: tokenId };
    // Revoking, rejecting and accepting act on B, so device A's token stays good for the device routes.
    const onDeviceB = new Set(['/v1/devices/:uuid/revoke', '/v1/devices/:uuid/reject', '/v1/devices/:uuid/accept']);
    routes = routeList().map((spec): Route => {
      const params = pathParameters(spec.path);
      // Only parameters that name something that must exist (a fleet, device, user, token); a free key such as a
      // config variable's name is no bad id.
      const last = params.at(-1);
      const names = (param: string): boolean =>
        param in validIds && (param !== 'name' || spec.path.startsWith('/v1/users/'));
      const varied = last !== undefined && names(last) ? last : undefined;
      const validId = varied === undefined ? '' : onDeviceB.has(spec.path) ? DEVICE_B : (validIds[varied] ?? '');
      if (spec.body !== undefined && spec.example === undefined)
        throw new Error(`${routeLabel(spec)} has a body but no example in its declaration (protocol/http/)`);
      return {
        method: spec.method,
        path: (id) =>
          spec.path.replace(/:([A-Za-z0-9_]+)/g, (_, param: string) =>
            param === varied ? id : e(names(param) ? validIds[param]! : 'key1'),
          ),
        validId,
        hasId: varied !== undefined,
        auth: spec.access === 'device' ? 'device' : typeof spec.access === 'object' ? 'admin' : 'none',
        ...(spec.body === undefined ? {} : { body: spec.body, sample: spec.example as Record<string, unknown> }),
      };
    });
    // Signed requests carry their key in the body: a fresh device's valid sample, so mutations start from one.
    const signedJoin = TestDevice.create('cccccccc-0000-4000-8000-0000000000cc').authBody({
      fleet: 'meters',
      provisioningKey: fleet.provisioningKey,
    });
    for (const route of routes.filter((r) => r.path('x') === paths.deviceAuth)) route.sample = { ...signedJoin };
  });

  after(async () => {
    server?.close();
    server?.closeAllConnections();
    await store?.close();
    await database?.dispose();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  function authHeader(auth: Auth): Record<string, string> {
    if (auth === 'admin') return { authorization: `Bearer ${ADMIN_TOKEN}` };
    if (auth === 'device') return { authorization: `Bearer ${deviceKey}` };
    return {};
  }

  const JSON_TYPE = { 'content-type': 'application/json' };

  /** Values of the wrong shape for almost any field. */
  function junkValue(gen: Gen): unknown {
    const depth = gen.int(2, 400);
    const nested = JSON.parse(`${'['.repeat(depth)}${']'.repeat(depth)}`) as unknown;
    return gen.pick<unknown>([
      null,
      true,
      false,
      0,
      -1,
      1e308,
      3.5,
      Number.MAX_SAFE_INTEGER,
      '',
      ' ',
      '\u0000',
      'ü'.repeat(gen.int(1, 80)),
      gen.chars('abc\u00e9\u4e2d\u{1f600}<>"\\', gen.int(1, 50)),
      'x'.repeat(gen.int(65, 300_000)),
      [],
      [1, 'two', null],
      {},
      { $ref: '#' },
      { __proto__: { admin: true } },
      nested,
      { a: { b: { c: nested } } },
    ]);
  }

  /** Mutations of a route's sample that its schema rejects (checked with the protocol's own validator). */
  function badBodies(
    gen: Gen,
    route: Route,
    count: number,
  ): Array<{ label: string; body: Buffer; headers: Record<string, string> }> {
    const schema = route.body as TSchema;
    const sample = route.sample ?? {};
    const out: Array<{ label: string; body: Buffer; headers: Record<string, string> }> = [];
    const keys = Object.keys(sample);
    let attempts = 0;
    while (out.length < count && attempts < count * 20) {
      attempts += 1;
      const kind = gen.pick(['wrong-type', 'extra-field', 'missing-field', 'not-an-object', 'junk-everywhere']);
      let value: unknown;
      if (kind === 'wrong-type' && keys.length > 0) value = { ...sample, [gen.pick(keys)]: junkValue(gen) };
      else if (kind === 'extra-field')
        value = {
          ...sample,
          [gen.pick(['admin', 'role', '__proto__', 'constructor', 'x'.repeat(300), '', 'uuid'])]: junkValue(gen),
        };
      else if (kind === 'missing-field' && keys.length > 0) {
        const copy: Record<string, unknown> = { ...sample };
        delete copy[gen.pick(keys)];
        value = copy;
      } else if (kind === 'not-an-object')
        value = gen.pick<unknown>([[], [sample], [[sample]], 'text', 42, null, true]);
      else value = Object.fromEntries(keys.map((k) => [k, junkValue(gen)]));
      if (check(schema, value).length === 0) continue;
      out.push({ label: `body ${kind}`, body: Buffer.from(JSON.stringify(value)), headers: JSON_TYPE });
    }
    return out;
  }

  function invalidJson(gen: Gen): string {
    return gen.pick([
      '{',
      '}',
      '{"a":',
      '{"a":1,}',
      "{'a':1}",
      '{"a":NaN}',
      '{"a":undefined}',
      '[1,2',
      'nul',
      'tru',
      '{"a":"\\x41"}',
      '{"a":1}{"b":2}',
      '\u0000',
      `{"${'a'.repeat(gen.int(1, 1000))}`,
      gen.chars('{}[]:,"\\0123456789abc \n\t', gen.int(1, 200)),
      `${'['.repeat(gen.int(10, 100_000))}`,
      '\uFEFF{"a":1',
      '{"a":"\ud800"',
      '--\r\nContent-Disposition: form-data',
    ]);
  }

  function record(sent: Sent, answer: Received): void {
    results.push({ sent, answer });
  }

  async function run(requests: Sent[]): Promise<void> {
    const failures: string[] = [];
    for (const sent of requests) {
      const answer = await send(base, sent);
      record(sent, answer);
      const violation = violationOf(answer);
      if (violation)
        failures.push(
          `${sent.label}: ${sent.method} ${sent.path.slice(0, 120)} -> ${violation}: ${answer.text.slice(0, 200)}`,
        );
    }
    assert.deepEqual(failures, [], `${failures.length} of ${requests.length} answers broke the contract`);
  }

  it('answers bad bodies with 4xx problems', async () => {
    const gen = new Gen(prng(SEED));
    const requests: Sent[] = [];
    for (const route of routes.filter((r) => r.body !== undefined)) {
      const target = { method: route.method, path: route.path(e(route.validId)) };
      const auth = authHeader(route.auth);
      for (const bad of badBodies(gen, route, 8))
        requests.push({ ...target, ...bad, headers: { ...auth, ...bad.headers } });
      for (let i = 0; i < 3; i += 1) {
        requests.push({
          label: 'invalid JSON',
          ...target,
          headers: { ...auth, ...JSON_TYPE },
          body: Buffer.from(invalidJson(gen)),
        });
      }
      const valid = Buffer.from(JSON.stringify(route.sample));
      const wrongType = gen.pick([
        'text/plain',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
        'application/xml',
        'image/png',
      ]);
      requests.push({
        label: 'wrong content-type',
        ...target,
        headers: { ...auth, 'content-type': wrongType },
        body: valid,
      });
      requests.push({
        label: 'garbage gzip',
        ...target,
        headers: { ...auth, ...JSON_TYPE, 'content-encoding': 'gzip' },
        body: Buffer.from('not gzip at all'),
      });
      requests.push({
        label: 'unknown encoding',
        ...target,
        headers: { ...auth, ...JSON_TYPE, 'content-encoding': 'zstd-9000' },
        body: valid,
      });
      if (check(route.body as TSchema, {}).length > 0) {
        // An empty body is {} to the API: invalid wherever a field is required.
        requests.push({ label: 'empty body', ...target, headers: { ...auth, ...JSON_TYPE }, body: Buffer.alloc(0) });
      }
    }
    // Larger than the API reads (4 MB): refused as too large, not parsed.
    for (const route of routes.filter((r) => r.body !== undefined).slice(0, 4)) {
      const huge = Buffer.from(JSON.stringify({ ...route.sample, padding: 'x'.repeat(5 * 1024 * 1024) }));
      requests.push({
        label: 'huge body',
        method: route.method,
        path: route.path(e(route.validId)),
        headers: { ...authHeader(route.auth), ...JSON_TYPE },
        body: huge,
      });
    }
    // Compose files that are no compose files: the YAML parser's failures must come back as 400s.
    const yamlJunk = [
      'services: [',
      'services:\n\t- tab',
      '- just\n- a list',
      '"a string"',
      'services:\n  r: *missing',
      ':\n:\n',
      `a: &a [${'x,'.repeat(50)}x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n`,
      `${'a:\n '.repeat(500)}x`,
      'services:\n  r:\n    image: 12\n',
      '%YAML 9.9\n---\nservices: {}',
      'services: !!binary xyz',
      'services:\n  r:\n    build: .\n  r:\n    build: .\n',
      'services:\n  "":\n    build: .\n',
      'services:\n  r:\n    build: .\n    ports: ["99999:80"]\n',
    ];
    for (const compose of yamlJunk) {
      requests.push({
        label: 'compose junk',
        method: 'POST',
        path: paths.releases('meters'),
        headers: { ...authHeader('admin'), ...JSON_TYPE },
        body: Buffer.from(JSON.stringify({ compose, images: { r: IMAGE } })),
      });
    }
    assert.ok(requests.length >= 200, `only ${requests.length} bad bodies generated`);
    await run(requests);
  });

  it('answers garbage credentials and conditional headers with 4xx problems', async () => {
    const gen = new Gen(prng(SEED + 1));
    const requests: Sent[] = [];
    const garbageAuth = (): string =>
      gen.pick([
        '',
        'Bearer',
        'Bearer ',
        'Bearer  ',
        'bearer',
        'Basic YWRtaW46YWRtaW4=',
        `Bearer ${ADMIN_TOKEN} extra`,
        `Bearer ${ADMIN_TOKEN.toUpperCase()}`,
        `Bearer ${ADMIN_TOKEN.slice(0, -1)}`,
        `Token ${ADMIN_TOKEN}`,
        `Bearer ${'A'.repeat(gen.int(1000, 8000))}`,
        `Bearer ${deviceKey}x`,
        `Bearer ${gen.chars('!#$%&*+-.^_`|~0123456789abcdefXYZ', gen.int(1, 100))}`,
        'Bearer null',
        'Bearer undefined',
        'Bearer ../../etc/passwd',
        `Bearer ${Buffer.from(ADMIN_TOKEN).toString('base64')}`,
        'Negotiate abc',
        `Bearer\t${ADMIN_TOKEN}x`,
        'Bearer caf\u00e9',
      ]);
    const badConditional = (): string =>
      gen.pick([
        '*',
        '"',
        '""',
        'W/',
        'W/"',
        ',,,,',
        `"${'f'.repeat(gen.int(64, 4000))}"`,
        'not-quoted',
        '"a", W/"b", *',
        '\u00ff\u00fe',
      ]);
    for (const route of routes.filter((r) => r.auth !== 'none')) {
      for (let i = 0; i < 6; i += 1) {
        const headers: Record<string, string> = {};
        const authorization = garbageAuth();
        if (authorization !== '') headers.authorization = authorization;
        if (gen.int(0, 1) === 1) headers['if-none-match'] = badConditional();
        if (gen.int(0, 2) === 0) headers['if-match'] = badConditional();
        const sent: Sent = {
          label: `garbage Authorization '${authorization.slice(0, 40)}'`,
          method: route.method,
          path: route.path(e(route.validId)),
          headers,
        };
        if (route.body) {
          sent.headers['content-type'] = 'application/json';
          sent.body = Buffer.from(JSON.stringify(route.sample));
        }
        requests.push(sent);
      }
    }
    // A device key on every people's route, an API token on every device route.
    for (const route of routes.filter((r) => r.auth !== 'none')) {
      const wrong = route.auth === 'admin' ? deviceKey : ADMIN_TOKEN;
      requests.push({
        label: 'the other kind of credential',
        method: route.method,
        path: route.path(e(route.validId)),
        headers: { authorization: `Bearer ${wrong}`, 'if-none-match': badConditional() },
      });
    }
    assert.ok(requests.length >= 100, `only ${requests.length} bad header sets generated`);
    await run(requests);
  });

  it('serves the target in full to a device whose If-None-Match is garbage', async () => {
    // The one case above where garbage is not an error: an unparseable tag simply matches nothing.
    const gen = new Gen(prng(SEED + 2));
    for (let i = 0; i < 5; i += 1) {
      const answer = await send(base, {
        label: 'garbage If-None-Match',
        method: 'GET',
        path: paths.target(DEVICE_A),
        headers: {
          authorization: `Bearer ${deviceKey}`,
          'if-none-match': gen.pick(['"', 'W/', ',,,', `"${'0'.repeat(64)}"`, 'abc']),
        },
      });
      assert.equal(answer.status, 200, answer.text);
    }
  });

  it('answers bad ids, paths and queries with 4xx problems', async () => {
    const gen = new Gen(prng(SEED + 3));
    const badIds = (): string[] => [
      e('ü-device-\u4e2d\u6587-\u{1f680}'),
      e('\u202e\u0000\u0007'),
      '%E0%A4%A',
      '%zz',
      '%',
      '%00',
      '%2e%2e',
      '..%2F..%2Fetc%2Fpasswd',
      '..%5C..%5Cwindows',
      e('../../etc/passwd'),
      '..',
      '...',
      e(' '),
      e('x'.repeat(gen.int(65, 300))),
      e('y'.repeat(gen.int(2000, 7000))),
      e(gen.chars('abc\u00e9\u4e2d/\\?#%&=+;', gen.int(1, 60))),
      e('null'),
      e('meters\u0000'),
      e("'; DROP TABLE devices; --"),
      e('$(reboot)'),
      e('<script>'),
      e('MeTeRs'),
      '%C0%AE%C0%AE',
      e('\uFEFF'),
    ];
    const requests: Sent[] = [];
    for (const route of routes.filter((r) => r.hasId)) {
      for (const id of badIds()) {
        const sent: Sent = {
          label: `bad id '${decodeSafely(id).slice(0, 30)}'`,
          method: route.method,
          path: route.path(id),
          headers: authHeader(route.auth),
        };
        if (route.body) {
          sent.headers = { ...sent.headers, ...JSON_TYPE };
          sent.body = Buffer.from(JSON.stringify(route.sample));
        }
        requests.push(sent);
      }
    }
    // Paths no route matches, traversal left unencoded, and wrong methods.
    for (const raw of [
      '/v1/fleets/../../etc/passwd',
      '/v1/../v1/users',
      '/v1/device/../devices',
      '//v1//fleets',
      '/v1/fleets/meters/../../../x',
      '/v1/devices/a/b/c/d',
      '/v1/users/vera/tokens/x/y',
      '/v2/fleets',
      `/v1/${'z'.repeat(5000)}`,
      '/%2e%2e/%2e%2e/etc/passwd',
      '/v1/fleets/%2e%2e',
      '/v1/audit/%2e%2e',
      '/v1/fleets\\..\\..\\x',
    ]) {
      requests.push({ label: `path ${raw.slice(0, 40)}`, method: 'GET', path: raw, headers: authHeader('admin') });
    }
    for (const [method, url] of [
      ['DELETE', paths.fleets],
      ['PUT', paths.fleet('meters')],
      ['DELETE', paths.audit],
      ['PATCH', paths.users],
      ['POST', paths.target(DEVICE_A)],
      ['GET', paths.deviceAuth],
      ['PUT', paths.state(DEVICE_A)],
      ['DELETE', paths.info],
    ] as const) {
      requests.push({ label: 'wrong method', method, path: url, headers: authHeader('admin') });
    }
    for (const query of [
      'fleet=',
      'fleet=nope',
      'fleet=meters&fleet=meters',
      `fleet=${e('\u4e2d'.repeat(100))}`,
      'fleet=%zz%',
    ]) {
      requests.push({
        label: `device query ${query}`,
        method: 'GET',
        path: `${paths.devices}?${query}`,
        headers: authHeader('admin'),
      });
    }
    for (const query of [
      'limit=0',
      'limit=-1',
      'limit=abc',
      'limit=1e3',
      'limit=1001',
      'limit=99999999999999999999',
      'before=0',
      'before=-5',
      'before=1.5',
      'limit=1&limit=2',
      'device=',
      `device=${'d'.repeat(100)}`,
      'fleet=a&fleet=b',
      'unknown=1',
      'limit=%00',
      'limit=%zz',
    ]) {
      requests.push({
        label: `audit query ${query}`,
        method: 'GET',
        path: `${paths.audit}?${query}`,
        headers: authHeader('admin'),
      });
    }
    // The registry's token server: odd queries, with odd Basic credentials or none.
    const basic = (text: string): Record<string, string> => ({
      authorization: `Basic ${Buffer.from(text).toString('base64')}`,
    });
    const tokenQueries = [
      '',
      'service=',
      'service=elsewhere',
      'service=skiff-registry&scope=',
      'service=skiff-registry&scope=repository',
      'service=skiff-registry&scope=repository::',
      `service=skiff-registry&scope=${'r'.repeat(600)}`,
      'service=skiff-registry&service=x',
      `service=skiff-registry${'&scope=repository:a/b:pull'.repeat(40)}`,
      'service=skiff-registry&account=someone-else',
      'service=%zz',
    ];
    const tokenCredentials = [
      {},
      basic(''),
      basic(':'),
      basic('admin'),
      basic(`admin:${ADMIN_TOKEN}x`),
      basic(`${DEVICE_A}:${ADMIN_TOKEN}`),
      { authorization: 'Basic !!!' },
      { authorization: `Bearer ${ADMIN_TOKEN}` },
      basic(`\u0000:${'x'.repeat(5000)}`),
    ];
    for (const query of tokenQueries) {
      requests.push({
        label: `token query ${query.slice(0, 40)}`,
        method: 'GET',
        path: `/v1/registry/token?${query}`,
        headers: gen.pick(tokenCredentials),
      });
    }
    for (const headers of tokenCredentials) {
      requests.push({
        label: 'token credentials',
        method: 'GET',
        path: '/v1/registry/token?service=skiff-registry&scope=repository:meters/r:pull',
        headers,
      });
    }
    assert.ok(requests.length >= 300, `only ${requests.length} bad ids generated`);
    await run(requests);
  });

  it('sent a few hundred bad requests in all, and none reached a 5xx', () => {
    if (process.env.SKIFF_MALFORMED_SUMMARY) {
      const byLabel = new Map<string, Map<string, number>>();
      for (const { sent, answer } of results) {
        const kind = sent.label.replace(/ '.*$/, '');
        const type = (JSON.parse(answer.text) as { type: string }).type;
        const counts = byLabel.get(kind) ?? new Map<string, number>();
        counts.set(`${answer.status} ${type}`, (counts.get(`${answer.status} ${type}`) ?? 0) + 1);
        byLabel.set(kind, counts);
      }
      for (const [kind, counts] of byLabel) console.log(kind, Object.fromEntries(counts));
    }
    assert.ok(results.length >= 600, `${results.length} requests`);
    assert.deepEqual(
      results.filter((r) => r.answer.status >= 500).map((r) => r.sent.label),
      [],
    );
  });
});

function decodeSafely(id: string): string {
  try {
    return decodeURIComponent(id);
  } catch {
    return id;
  }
}
