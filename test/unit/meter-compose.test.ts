// The meter-fleet template as a release: a compose file the compose spec accepts, using only the fields Skiff
// normalises, whose every service builds from its own folder on a BASE build argument, and whose settings are
// the ones the services actually read.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Ajv } from 'ajv';
import { parse as parseYaml } from 'yaml';
import { RestartPolicySchema } from '../../protocol/target-state.js';
import { check } from '../../protocol/validate.js';
import { repoRoot } from '../../harness/env.js';

const templateDir = path.join(repoRoot, 'compose-templates', 'meter-fleet');
const SUPPORTED_SERVICE_FIELDS = new Set([
  'image',
  'build',
  'command',
  'environment',
  'volumes',
  'ports',
  'networks',
  'restart',
  'depends_on',
  'labels',
  'devices',
  'healthcheck',
]);

interface Service {
  build: { context: string; args?: Record<string, string> };
  restart: string;
  environment: Record<string, string>;
  volumes: string[];
  networks: string[];
  depends_on?: string[];
  [field: string]: unknown;
}
interface ComposeFile {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
  networks: Record<string, unknown>;
  [field: string]: unknown;
}
interface ConfigModule {
  readConfig(env: Record<string, string | undefined>): { source: { kind: string } };
}

const read = (...parts: string[]) => readFileSync(path.join(templateDir, ...parts), 'utf8');

describe('meter-fleet compose template', () => {
  let raw: unknown;
  let compose: ComposeFile;
  before(() => {
    raw = parseYaml(read('docker-compose.yml'));
    compose = raw as ComposeFile;
  });

  it('is a valid compose file by the compose specification', () => {
    const schema = JSON.parse(
      readFileSync(path.join(repoRoot, 'protocol', 'compose', 'compose-spec.json'), 'utf8'),
    ) as Record<string, unknown>;
    delete schema.$schema;
    const validate = new Ajv({ strict: false, allErrors: true }).compile(schema);
    assert.ok(validate(raw), JSON.stringify(validate.errors, null, 2));
  });

  it('uses only the fields Skiff normalises, with restart policies the target state allows', () => {
    assert.deepEqual(Object.keys(compose).sort(), ['networks', 'services', 'volumes']);
    assert.deepEqual(Object.keys(compose.services).sort(), ['logger', 'meter-reader', 'tunnel']);
    for (const [name, service] of Object.entries(compose.services)) {
      const unsupported = Object.keys(service).filter((f) => !SUPPORTED_SERVICE_FIELDS.has(f));
      assert.deepEqual(unsupported, [], `${name} uses unsupported fields`);
      assert.deepEqual(check(RestartPolicySchema, service.restart), [], `${name}: restart ${service.restart}`);
    }
  });

  it('declares every named volume and network its services use', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      for (const volume of service.volumes) {
        const source = volume.split(':')[0] ?? '';
        if (!source.startsWith('/')) assert.ok(source in compose.volumes, `${name} mounts undeclared volume ${source}`);
      }
      for (const network of service.networks) assert.ok(network in compose.networks, `${name}: network ${network}`);
      for (const dependency of service.depends_on ?? []) assert.ok(dependency in compose.services);
    }
  });

  it('builds each service FROM a BASE argument that defaults to the skiff base image of the platform built', () => {
    const baseScript = readFileSync(path.join(repoRoot, 'scripts', 'base-images.sh'), 'utf8');
    const kinds: Record<string, string> = { 'meter-reader': 'node', tunnel: 'ssh', logger: 'busybox' };
    for (const [name, service] of Object.entries(compose.services)) {
      const dockerfile = readFileSync(path.join(templateDir, service.build.context, 'Dockerfile'), 'utf8');
      // The compose file must not pin BASE: one value would be one platform's image for every platform.
      assert.equal(service.build.args?.BASE, undefined, `${name} leaves BASE to its Dockerfile`);
      const kind = kinds[name];
      assert.ok(kind, `${name} is a known service`);
      assert.match(dockerfile, /^FROM \$\{BASE\}$/m, `${name}'s Dockerfile builds FROM \${BASE}`);
      assert.ok(
        dockerfile.includes(`ARG BASE=skiff/${kind}:base-\${TARGETARCH}\${TARGETVARIANT}\n`),
        `${name}'s Dockerfile defaults BASE to the skiff/${kind} base of the platform`,
      );
      assert.ok(
        baseScript.includes(`"skiff/${kind}:base-$suffix"`),
        `scripts/base-images.sh builds skiff/${kind} per platform`,
      );
      assert.ok(baseScript.includes(`"skiff/$kind:base-amd64"`), 'scripts/base-images.sh names the amd64 ones');
    }
  });

  it('sets only environment the services read, and documents all of it', async () => {
    const readme = readFileSync(path.join(repoRoot, 'compose-templates', 'README.md'), 'utf8');
    const sources: Record<string, string> = {
      'meter-reader': read('meter-reader', 'config.mjs'),
      tunnel: read('tunnel', 'tunnel.sh'),
      logger: read('logger', 'logger.sh'),
    };
    for (const [name, service] of Object.entries(compose.services)) {
      const source = sources[name] ?? '';
      for (const variable of Object.keys(service.environment)) {
        const readBy =
          name === 'meter-reader' ? source.includes(`'${variable}'`) : source.includes(`${variable}=\${${variable}:-`);
        assert.ok(readBy, `${name} sets ${variable}, which it does not read`);
        assert.ok(readme.includes(`\`${variable}\``), `README.md documents ${variable}`);
      }
    }
    const { readConfig } = (await import(
      pathToFileURL(path.join(templateDir, 'meter-reader', 'config.mjs')).href
    )) as ConfigModule;
    assert.equal(readConfig(compose.services['meter-reader']?.environment ?? {}).source.kind, 'simulated');
  });

  it('keeps every service source file inside its build context', () => {
    for (const service of Object.values(compose.services)) {
      const dockerfile = read(service.build.context, 'Dockerfile');
      for (const m of dockerfile.matchAll(/^COPY (?:--\S+ )*(.+) \S+$/gm)) {
        for (const file of (m[1] ?? '').split(/\s+/).filter((f) => !f.includes('*'))) {
          assert.ok(
            existsSync(path.join(templateDir, service.build.context, file)),
            `${service.build.context}/${file}`,
          );
        }
      }
    }
  });
});
