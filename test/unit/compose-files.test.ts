import assert from 'node:assert/strict';
import { normalizeCompose } from '../../protocol/compose/normalize.js';
import type { LocalSource } from '../../protocol/compose/files.js';
import { check, ValidationError, type Issue } from '../../protocol/validate.js';
import { ServiceSpecSchema, type ServiceSpec } from '../../protocol/target-state.js';

const IMAGE = `127.0.0.1:5000/meters/reader@sha256:${'a'.repeat(64)}`;
const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;
const D3 = `sha256:${'3'.repeat(64)}`;

/** A project folder as `skiff push` would describe it. */
const PROJECT: Record<string, LocalSource> = {
  'mosquitto.conf': { kind: 'file', digest: D1, size: 120 },
  config: {
    kind: 'directory',
    files: [
      { path: 'app.ini', digest: D2, size: 30 },
      { path: 'rules/alerts.yml', digest: D3, size: 42 },
    ],
  },
  data: { kind: 'missing' },
  empty: { kind: 'directory', files: [] },
  'db-password.txt': { kind: 'file', digest: D3, size: 16 },
};
const sources = (p: string): LocalSource | undefined => PROJECT[p];

function reader(body: string, tail = ''): ServiceSpec {
  const result = normalizeCompose(
    `services:\n  reader:\n    image: ${IMAGE}\n${body}\n${tail}`,
    {},
    { files: sources },
  );
  const spec = result.services[0];
  assert.ok(spec);
  assert.deepEqual(check(ServiceSpecSchema, spec), [], 'the result conforms to the protocol schema');
  return spec;
}

function issuesOf(body: string, tail = ''): Issue[] {
  try {
    normalizeCompose(`services:\n  reader:\n    image: ${IMAGE}\n${body}\n${tail}`, {}, { files: sources });
  } catch (err) {
    assert.ok(err instanceof ValidationError);
    return err.issues;
  }
  assert.fail('the compose file was accepted');
}

describe('compose files that travel with the release', () => {
  it('carries a relative file and a folder with files, bound read-only', () => {
    const spec = reader(
      '    volumes:\n      - ./mosquitto.conf:/mosquitto/config/mosquitto.conf\n' +
        '      - type: bind\n        source: ./config/\n        target: /etc/app\n      - /var/log:/host-logs:ro',
    );
    assert.deepEqual(spec.volumes, [{ type: 'bind', source: '/var/log', target: '/host-logs', readOnly: true }]);
    assert.deepEqual(spec.files, [
      {
        kind: 'bind',
        source: 'mosquitto.conf',
        target: '/mosquitto/config/mosquitto.conf',
        directory: false,
        files: [{ path: '', digest: D1, size: 120 }],
        mode: 0o444,
      },
      {
        kind: 'bind',
        source: 'config',
        target: '/etc/app',
        directory: true,
        files: [
          { path: 'app.ini', digest: D2, size: 30 },
          { path: 'rules/alerts.yml', digest: D3, size: 42 },
        ],
        mode: 0o444,
      },
    ]);
    assert.equal(spec.stateDirectories, undefined);
  });

  it('makes a missing or empty relative folder a state directory of the service', () => {
    const spec = reader('    volumes:\n      - ./data:/var/lib/app\n      - ./empty/:/cache:ro');
    assert.deepEqual(spec.stateDirectories, [
      { name: 'data', target: '/var/lib/app', readOnly: false },
      { name: 'empty', target: '/cache', readOnly: true },
    ]);
    assert.deepEqual(spec.volumes, []);
    assert.equal(spec.files, undefined);
  });

  it("gives configs and secrets compose's targets and modes, or the ones the service sets", () => {
    const spec = reader(
      '    configs:\n      - broker\n      - source: broker\n        target: /etc/broker.conf\n        mode: "0440"\n' +
        '    secrets:\n      - db_password\n      - source: db_password\n        target: pw\n        uid: "1000"\n        gid: "1000"',
      'configs:\n  broker:\n    file: ./mosquitto.conf\nsecrets:\n  db_password:\n    file: ./db-password.txt\n',
    );
    const brief = (spec.files ?? []).map(({ kind, source, target, mode, uid, gid }) => ({
      kind,
      source,
      target,
      mode: mode.toString(8),
      ...(uid === undefined ? {} : { uid }),
      ...(gid === undefined ? {} : { gid }),
    }));
    assert.deepEqual(brief, [
      { kind: 'config', source: 'broker', target: '/broker', mode: '444' },
      { kind: 'config', source: 'broker', target: '/etc/broker.conf', mode: '440' },
      { kind: 'secret', source: 'db_password', target: '/run/secrets/db_password', mode: '400' },
      { kind: 'secret', source: 'db_password', target: '/run/secrets/pw', mode: '400', uid: 1000, gid: 1000 },
    ]);
    assert.deepEqual(spec.files?.[2]?.files, [{ path: '', digest: D3, size: 16 }]);
  });

  it('refuses paths outside the project folder, folders as secrets, and undeclared or external ones', () => {
    const issues = issuesOf(
      '    volumes:\n      - ../shared:/shared\n      - ~/notes:/notes\n    secrets:\n      - nope\n      - folder',
      'secrets:\n  folder:\n    file: ./config\n  vault:\n    external: true\n',
    );
    const by = Object.fromEntries(issues.map((i) => [i.path, i.message]));
    assert.match(by['services.reader.volumes[0]'] ?? '', /'\.\.\/shared' is not inside the compose file's folder/);
    assert.match(by['services.reader.volumes[1]'] ?? '', /'~\/notes' is in your home folder/);
    assert.match(by['services.reader.secrets[0]'] ?? '', /secret 'nope' is not declared under the top-level secrets/);
    assert.match(by['secrets.folder.file'] ?? '', /'\.\/config' is a folder; a secret is one file/);
    assert.match(by['secrets.vault.external'] ?? '', /devices run no swarm/);
  });

  it('refuses file paths a device could be tricked into writing outside the release folder', () => {
    const mount = (path: string) => ({
      name: 'reader',
      image: IMAGE,
      environment: {},
      labels: {},
      volumes: [],
      ports: [],
      networks: {},
      restart: 'no' as const,
      privileged: false,
      devices: [],
      dependsOn: {},
      files: [
        { kind: 'bind', source: 'x', target: '/x', directory: true, files: [{ path, digest: D1, size: 1 }], mode: 292 },
      ],
    });
    for (const bad of ['../etc/passwd', 'a/../../b', '/etc/passwd', 'a//b', '.', 'a/\nb'])
      assert.notDeepEqual(check(ServiceSpecSchema, mount(bad)), [], JSON.stringify(bad));
    assert.deepEqual(check(ServiceSpecSchema, mount('rules/.hidden.yml')), []);
  });
});
