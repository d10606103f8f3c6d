// The served OpenAPI document against the real app: it is a valid OpenAPI 3.1 document (checked with the OpenAPI
// Initiative's own schema), every schema in it compiles as JSON Schema 2020-12, it lists exactly the routes the
// router serves, and a request that breaks a documented schema is a 400 problem naming the field.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type Router from '@koa/router';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type Koa from 'koa';
import { parse as parseYaml } from 'yaml';
import { ProblemSchema } from '../../protocol/api.js';
import { parse } from '../../protocol/validate.js';
import { paths } from '../../protocol/http/paths.js';
import { openApiPath } from '../../registry-api/http/openapi.js';
import { ROUTES } from '../../protocol/http/routes.js';
import { ApiServer } from '../../harness/api-server.js';
import { repoRoot } from '../../harness/env.js';

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;

type OpenApi = {
  openapi: string;
  paths: Record<
    string,
    Record<
      string,
      {
        operationId: string;
        requestBody?: { content: Record<string, { schema: object; example?: unknown }> };
        responses: Record<string, { content?: Record<string, { schema: object }> }>;
        parameters?: Array<{ name: string; in: string; schema: object }>;
      }
    >
  >;
};

/** METHOD /path/{param} of every route the app's router serves (HEAD is the router's automatic twin of GET). */
function routerRoutes(app: Koa<never>): string[] {
  const router = app.middleware
    .map((fn) => (fn as { router?: Router }).router)
    .find((r): r is Router => r !== undefined);
  if (!router) throw new Error('the app has no @koa/router middleware');
  return router.stack.flatMap((layer) =>
    layer.methods.filter((m) => m !== 'HEAD').map((m) => `${m} ${openApiPath(String(layer.path))}`),
  );
}

function documentedRoutes(doc: OpenApi): string[] {
  return Object.entries(doc.paths).flatMap(([p, item]) => Object.keys(item).map((m) => `${m.toUpperCase()} ${p}`));
}

describe('registry-api OpenAPI document', function () {
  // Compiling the OpenAPI meta-schema and every schema in the document takes a few seconds on a busy machine.
  this.timeout(60_000);
  let api: ApiServer;
  let doc: OpenApi;

  before(async () => {
    api = await ApiServer.start();
    const response = await fetch(`${api.url}/v1/openapi.json`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
    doc = (await response.json()) as OpenApi;
  });

  after(async () => {
    await api?.stop();
  });

  it('is a valid OpenAPI 3.1 document', () => {
    const text = readFileSync(path.join(repoRoot, 'harness', 'openapi-3.1-schema.yaml'), 'utf8');
    // Ajv resolves `$dynamicRef: '#meta'` to the document root instead of the `meta` anchor; with no other dialect
    // in play the two mean the same as a plain $ref to that anchor's schema.
    const schema = JSON.parse(
      JSON.stringify(parseYaml(text)).replaceAll('{"$dynamicRef":"#meta"}', '{"$ref":"#/$defs/schema"}'),
    ) as object;
    const ajv = addFormats(new Ajv2020({ strict: false, allErrors: true }));
    ajv.addFormat('media-range', true);
    const validate = ajv.compile(schema);
    assert.equal(validate(doc), true, JSON.stringify(validate.errors?.slice(0, 5), null, 2));
    assert.equal(doc.openapi, '3.1.0');
  });

  it('holds schemas that compile as JSON Schema 2020-12, and examples that match them', () => {
    const ajv = addFormats(new Ajv2020({ strict: false, allErrors: true }));
    ajv.addSchema({ $id: 'doc', ...doc });
    for (const [p, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        const where = `${method.toUpperCase()} ${p}`;
        for (const media of Object.values(op.requestBody?.content ?? {})) {
          const validate = ajv.compile(media.schema);
          if (media.example !== undefined)
            assert.equal(validate(media.example), true, `${where}: its example: ${JSON.stringify(validate.errors)}`);
        }
        for (const [status, answer] of Object.entries(op.responses)) {
          for (const media of Object.values(answer.content ?? {})) {
            const schema = media.schema as { $ref?: string };
            if (schema.$ref === undefined) ajv.compile(schema);
            else assert.ok(ajv.getSchema(`doc${schema.$ref}`), `${where} ${status}: ${schema.$ref} does not resolve`);
          }
        }
        for (const parameter of op.parameters ?? []) ajv.compile(parameter.schema);
      }
    }
  });

  it('lists exactly the routes the router serves', () => {
    const served = routerRoutes(api.app).sort();
    const documented = documentedRoutes(doc).sort();
    assert.deepEqual(
      served.filter((r) => !documented.includes(r)),
      [],
      'served but not declared in protocol/http/',
    );
    assert.deepEqual(
      documented.filter((r) => !served.includes(r)),
      [],
      'declared in protocol/http/ but not served',
    );
    assert.equal(new Set(served).size, served.length, 'a route is registered twice');
    assert.equal(documented.length, Object.keys(ROUTES).length);
  });

  it('answers a body that breaks the documented schema with a 400 problem naming the field', async () => {
    const response = await fetch(`${api.url}${paths.fleets}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${api.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ...ROUTES.createFleet.example, pollIntervalSeconds: 'soon' }),
    });
    assert.equal(response.status, 400);
    assert.equal(response.headers.get('content-type'), 'application/problem+json');
    const problem = parse(ProblemSchema, await response.json(), 'the problem');
    assert.match(problem.detail, /the new fleet is invalid: \/pollIntervalSeconds: must be integer/);
    assert.deepEqual(
      problem.errors?.map((e) => e.path),
      ['/pollIntervalSeconds'],
    );
    const documented = doc.paths['/v1/fleets']?.post?.requestBody?.content['application/json']?.schema as {
      properties: Record<string, { type: string }>;
    };
    assert.equal(documented.properties.pollIntervalSeconds?.type, 'integer', 'the document says what was enforced');
  });

  it('answers a query that breaks the documented schema with a 400 problem naming the parameter', async () => {
    const response = await fetch(`${api.url}${paths.audit}?limit=ten&colour=blue`, {
      headers: { authorization: `Bearer ${api.adminToken}` },
    });
    assert.equal(response.status, 400);
    assert.equal(response.headers.get('content-type'), 'application/problem+json');
    const problem = parse(ProblemSchema, await response.json(), 'the problem');
    assert.deepEqual(problem.errors?.map((e) => e.path).sort(), ['?', '?limit']);
    assert.match(problem.detail, /limit/);
    assert.match(problem.detail, /colour/);
  });
});
