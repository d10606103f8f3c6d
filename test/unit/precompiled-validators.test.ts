import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { Type, type TSchema } from '@sinclair/typebox';
import { DeviceAuthRequestSchema, DeviceAuthResponseSchema } from '../../protocol/device-auth.js';
import { TargetEventSchema } from '../../protocol/device-events.js';
import { TargetStateSchema } from '../../protocol/target-state.js';
import { exportedSchemas, writeValidators, type FoundSchema } from '../../protocol/precompiled-validators.js';
import { createAjv, PRECOMPILED_DIR, precompiledValidator, schemaKey } from '../../protocol/schema-compiler.js';
import { check, issuesOf, type Issue } from '../../protocol/validate.js';
import { SupervisorConfigSchema } from '../../supervisor/config.js';
import { TrafficFileSchema } from '../../supervisor/device/traffic.js';
import { ContainerInspect, ContainerSummaries, ImageInspect } from '../../supervisor/engine/schemas.js';
import { distRoot } from '../../harness/env.js';
import { fakeImage, serviceSpec, targetState } from '../../harness/supervisor-targets.js';

const run = promisify(execFile);

/** What a supervisor validates from start to idle: its config, the API's answers, the engine's answers. */
const IDLE_PATH: Record<string, TSchema> = {
  SupervisorConfigSchema,
  DeviceAuthResponseSchema,
  TargetStateSchema,
  TargetEventSchema,
  ContainerSummaries,
  ContainerInspect,
  ImageInspect,
  // Read at start once the device has counted traffic: a schema of its own missed here made every supervisor load
  // ajv's compiler (about 10 MB resident).
  TrafficFileSchema,
};

const target = targetState([serviceSpec('meter', fakeImage('meter', 'm1'))]);
const authRequest = {
  uuid: '6f1c2d3e-4a5b-4c6d-8e7f-0123456789ab',
  publicKey: 'MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=',
  deviceType: 'raspberrypi4-64',
  timestamp: '2025-01-02T03:04:05.678Z',
};

/** Values that conform and values that break each kind of keyword the protocol uses. */
const CASES: Array<{ what: string; schema: TSchema; value: unknown }> = [
  { what: 'a valid target', schema: TargetStateSchema, value: target },
  { what: 'a target missing its services', schema: TargetStateSchema, value: { ...target, services: undefined } },
  {
    what: 'a target with a wrongly typed service',
    schema: TargetStateSchema,
    value: { ...target, services: [{ ...target.services[0], restart: 7 }] },
  },
  { what: 'a target with an unknown field', schema: TargetStateSchema, value: { ...target, surprise: true } },
  { what: 'a valid auth request', schema: DeviceAuthRequestSchema, value: authRequest },
  {
    what: 'an auth request with a bad timestamp and key',
    schema: DeviceAuthRequestSchema,
    value: { ...authRequest, timestamp: 'yesterday', publicKey: 'not base64!' },
  },
  {
    what: 'an auth request with an extra field',
    schema: DeviceAuthRequestSchema,
    value: { ...authRequest, admin: true },
  },
  { what: 'not an object at all', schema: DeviceAuthResponseSchema, value: 'token' },
];

describe('precompiled validators', () => {
  let dir: string;
  let found: Map<string, FoundSchema>;

  before(async () => {
    // Inside the compiled tree: the generated code requires ajv's small runtime helpers from node_modules.
    dir = await mkdtemp(path.join(distRoot, '.validators-test-'));
    found = await exportedSchemas(distRoot);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('finds every schema a supervisor validates on its way to idle among what the device side exports', () => {
    for (const [name, schema] of Object.entries(IDLE_PATH)) {
      assert.ok(found.has(schemaKey(schema)), `${name} is not found by the build step`);
    }
    assert.ok(
      [...found.values()].every((f) => /^(protocol|supervisor)\//.test(f.where)),
      'only the device side is searched',
    );
  });

  it('report exactly the issues ajv compiling at run time reports', async () => {
    const schemas = new Map([...found].filter(([, f]) => CASES.some((c) => c.schema === f.schema)));
    await writeValidators(dir, schemas);
    for (const { what, schema, value } of CASES) {
      const precompiled = precompiledValidator(schemaKey(schema), dir);
      assert.ok(precompiled !== undefined, `no precompiled validator for ${what}`);
      const compiled = createAjv().compile(schema);
      const outcome = (v: typeof compiled): { valid: boolean; issues: Issue[] } => ({
        valid: v(value) === true,
        issues: issuesOf(v.errors),
      });
      assert.deepEqual(outcome(precompiled), outcome(compiled), what);
    }
  });

  it('a schema changed after the build is compiled at first use instead, with its own rules', async () => {
    const changed = Type.Object({ ...DeviceAuthResponseSchema.properties, token: Type.String({ minLength: 64 }) });
    assert.equal(precompiledValidator(schemaKey(changed), dir), undefined);
    assert.deepEqual(
      check(changed, { token: 'short', expiresAt: '', signingKey: '', uuid: '', name: '', fleet: '', shortId: '' }),
      [{ path: '/token', message: 'must NOT have fewer than 64 characters' }],
    );
  });

  it("the built tree validates a supervisor's idle path without loading ajv's compiler", async function () {
    this.timeout(60_000);
    // The build step (npm run build, scripts/deps.sh) made them; a tree compiled by tsc alone gets them here.
    if (!existsSync(PRECOMPILED_DIR))
      await run(process.execPath, [path.join(distRoot, 'protocol', 'validators-build.js')]);
    const probe = `
      import { createRequire } from 'node:module';
      const { check } = await import(${JSON.stringify(path.join(distRoot, 'protocol', 'validate.js'))});
      const schemas = await Promise.all(${JSON.stringify(['protocol/target-state.js', 'supervisor/config.js', 'supervisor/engine/schemas.js', 'protocol/device-auth.js'])}
        .map((m) => import(${JSON.stringify(distRoot)} + '/' + m)));
      const { TargetStateSchema } = schemas[0], { SupervisorConfigSchema } = schemas[1];
      const { ContainerInspect, ContainerSummaries } = schemas[2], { DeviceAuthResponseSchema } = schemas[3];
      const issues = [TargetStateSchema, SupervisorConfigSchema, ContainerInspect, ContainerSummaries, DeviceAuthResponseSchema]
        .map((s) => check(s, { surely: 'not valid' }).length);
      const ajvCore = Object.keys(createRequire(import.meta.url).cache).filter((f) => /node_modules[\\\\/]ajv[\\\\/]dist[\\\\/](core|compile)/.test(f));
      process.stdout.write(JSON.stringify({ issues, ajvCore }));`;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', probe]);
    const { issues, ajvCore } = JSON.parse(stdout) as { issues: number[]; ajvCore: string[] };
    assert.ok(
      issues.every((n) => n > 0),
      `every schema refused the value: ${issues.join(', ')}`,
    );
    assert.deepEqual(ajvCore, []);
  });
});
