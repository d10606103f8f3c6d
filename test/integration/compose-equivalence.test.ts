// One compose file using every field Skiff supports, run twice on the same real engine: by Debian's
// `docker-compose up` (the reference) and by Skiff's own path (push-time resolution -> normaliser ->
// container-config -> engine adapter). The containers each creates are compared field by field; what differs on
// purpose is listed in DELIBERATE_DIFFERENCES and applied to both sides before comparing, nothing else.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { parseDocument } from 'yaml';
import { createLogger } from '../../lib/logger.js';
import { normalizeCompose } from '../../protocol/compose/normalize.js';
import { DEFAULT_DEVICE_CONFIG, type TargetState } from '../../protocol/target-state.js';
import { parse } from '../../protocol/validate.js';
import { resolveComposeForPush } from '../../cli/push/compose-variables.js';
import { desiredContainer } from '../../supervisor/plan/container-config.js';
import { connectEngine, DockerEngine } from '../../supervisor/engine/engine.js';
import { LABELS, networkName, volumeName } from '../../supervisor/plan/naming.js';
import { acceptTarget } from '../../supervisor/target/gate.js';
import { loadTestEnv } from '../../harness/env.js';
import { buildTestImage } from '../../harness/images.js';
import { eventually } from '../../harness/supervisor-device.js';
import { planUpdate } from '../../supervisor/plan/planner.js';
import { execute } from '../../supervisor/reconcile/executor.js';
import { readCurrentState } from '../../supervisor/reconcile/current-state.js';
import { REFUSED, SUPPORTED, type Section } from '../../protocol/compose/support.js';
import {
  CORPUS_DIR,
  ContainerInspect,
  NetworkInspect,
  VolumeInspect,
  comparableContainer,
  comparableNetwork,
  comparableVolume,
  corpusFiles,
  differences,
  forCompose129,
  runSettings,
  setIn,
  type Naming as CorpusNaming,
} from './compose-corpus.js';

const run = promisify(execFile);
const env = loadTestEnv();
const client = connectEngine(env.deviceDockerHost);
const engine = new DockerEngine(client, createLogger('test-compose-equivalence', { test: 'integration' }));
const PROJECT = 'skiffeq';
const FLEET = 'compose-eq';
const DEVICE = 'device-compose-eq';
const SERVICES = ['app', 'db', 'job', 'sniffer'] as const;

/** Every supported field, in the forms people write: short and long, list and map, string and list. */
const COMPOSE = `
services:
  db:
    image: \${EQ_IMAGE}
    healthcheck:
      test: ["CMD", "true"]
      interval: 1s
      timeout: 2s
      retries: 3
      start_period: 1s
    networks:
      backend:
        aliases: [database, store]
    volumes:
      - data:/data
  job:
    image: \${EQ_IMAGE}
    entrypoint: /bin/sh -c
    command: ["exit 0"]
    networks: [backend]
  app:
    image: \${EQ_IMAGE}
    entrypoint: ["/bin/sh", "-c"]
    command: >-
      'trap "exit 0" TERM; while :; do sleep 1 & wait $$!; done' app
    environment:
      SITE: \${SITE}
      PRICE: "$$5"
      FROM_SHELL:
      OVERRIDDEN: by-environment
    env_file: [meter.env]
    ports:
      - "127.0.0.1:\${EQ_PORT:-47760}:80"
      - "47761:81/udp"
      # host_ip in the long form is newer than compose 1.29; the short form above covers a host IP.
      - target: 82
        published: 47762
        protocol: tcp
        mode: host
    volumes:
      - data:/data:ro
      - \${BIND_DIR}/short:/short-bind
      - type: volume
        source: logs
        target: /logs
      - type: bind
        source: \${BIND_DIR}/long
        target: /long-bind
        read_only: true
    tmpfs:
      - /run
      - /tmp:size=1m,mode=1777
    devices: ["/dev/null:/dev/skiff-null:rwm"]
    cap_add: [NET_ADMIN, SYS_TIME]
    cap_drop: [MKNOD]
    networks:
      backend:
        aliases: [meter]
      frontend:
    depends_on:
      db:
        condition: service_healthy
      job:
        condition: service_completed_successfully
    restart: on-failure:3
    healthcheck:
      test: ["CMD-SHELL", "test -d /data"]
      interval: 30s
      timeout: 5s
      retries: 2
      start_period: 2s
    labels:
      com.example.tier: edge
      com.example.empty: ""
    working_dir: /data
    user: "1000:1000"
    hostname: meter-1
    extra_hosts: ["broker:10.9.8.7"]
    dns: [10.9.8.53]
    init: true
    shm_size: 8m
    read_only: true
    security_opt: ["no-new-privileges:true"]
    sysctls:
      net.core.somaxconn: 1024
    ulimits:
      nproc: 512
      nofile: {soft: 1024, hard: 2048}
    mem_limit: 64m
    cpus: 0.5
    stop_signal: SIGINT
    stop_grace_period: 7s
    logging:
      driver: json-file
      options: {max-size: 1m, max-file: "2"}
  sniffer:
    image: \${EQ_IMAGE}
    command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1 & wait $$!; done"]
    network_mode: host
    privileged: true
    depends_on: [db]
    restart: unless-stopped
volumes:
  data:
  logs:
networks:
  backend:
  frontend:
`;

const Inspect = Type.Object({
  Id: Type.String(),
  State: Type.Object({ Running: Type.Boolean(), Status: Type.String(), ExitCode: Type.Integer() }),
  Config: Type.Record(Type.String(), Type.Unknown()),
  HostConfig: Type.Record(Type.String(), Type.Unknown()),
  Mounts: Type.Array(
    Type.Object({
      Type: Type.String(),
      Name: Type.Optional(Type.String()),
      Source: Type.String(),
      Destination: Type.String(),
      RW: Type.Boolean(),
    }),
  ),
  NetworkSettings: Type.Object({
    Networks: Type.Record(
      Type.String(),
      Type.Object({ Aliases: Type.Union([Type.Array(Type.String()), Type.Null()]) }),
    ),
  }),
});
type Inspect = Static<typeof Inspect>;

const HOST_CONFIG_FIELDS = [
  'CapAdd',
  'CapDrop',
  'Sysctls',
  'Ulimits',
  'Tmpfs',
  'ShmSize',
  'ReadonlyRootfs',
  'SecurityOpt',
  'Memory',
  'NanoCpus',
  'Init',
  'ExtraHosts',
  'Dns',
  'LogConfig',
  'RestartPolicy',
  'PortBindings',
  'Devices',
  'Privileged',
  'NetworkMode',
] as const;
const CONFIG_FIELDS = [
  'Env',
  'Cmd',
  'Entrypoint',
  'User',
  'WorkingDir',
  'Hostname',
  'Labels',
  'Healthcheck',
  'StopSignal',
  'StopTimeout',
  'ExposedPorts',
] as const;

/** How each side names the engine objects of one compose name. */
interface Naming {
  network(name: string): string;
  volume(name: string): string;
  ownLabel(key: string): boolean;
}

const SKIFF_LABELS: readonly string[] = Object.values(LABELS);
const COMPOSE_NAMING: Naming = {
  network: (n) => `${PROJECT}_${n}`,
  volume: (v) => `${PROJECT}_${v}`,
  ownLabel: (key) => key.startsWith('com.docker.compose.'),
};
const SKIFF_NAMING: Naming = {
  network: networkName,
  volume: volumeName,
  ownLabel: (key) => SKIFF_LABELS.includes(key),
};

/**
 * The differences Skiff makes on purpose. Each is undone on both sides, so the comparison still sees every other
 * byte of the fields above:
 * - Engine object names: compose prefixes networks and volumes with the project (`skiffeq_backend`), Skiff with
 *   `skiff_`; both are mapped back to the compose name (NetworkMode, mount names, network keys).
 * - Labels: each tool's own bookkeeping labels (com.docker.compose.*, io.skiff.*) are dropped; the file's stay.
 * - Env: Skiff injects SKIFF_DEVICE_UUID, SKIFF_FLEET_NAME, SKIFF_SERVICE_NAME and SKIFF_LOCK_DIR.
 * - Network aliases: the alias equal to the container's own short id differs per container; it is dropped.
 * - Hostname: without `hostname`, the engine uses the container's short id, which differs per container.
 * - Empty values the engine treats alike: Skiff always writes Devices (an empty list where compose sends null) and
 *   restart "no" by its name (compose sends ""). Changing either would change the config hash of every container
 *   already running, and so recreate them all on a supervisor update.
 * - StopTimeout: compose 1.29 applies stop_grace_period only when it stops the container itself; Skiff writes it
 *   into the container, so the engine honours it on any stop (docker stop, a reboot). Compared against the file.
 */
function comparable(c: Inspect, naming: Naming, service: string): Record<string, unknown> {
  const unprefix = (value: string, prefixed: (n: string) => string): string => {
    const probe = prefixed('');
    return value.startsWith(probe) ? value.slice(probe.length) : value;
  };
  const host: Record<string, unknown> = {};
  for (const key of HOST_CONFIG_FIELDS) host[key] = c.HostConfig[key];
  host.NetworkMode = unprefix(String(c.HostConfig.NetworkMode), naming.network);
  if (Array.isArray(host.Devices) && host.Devices.length === 0) host.Devices = null;
  const restart = c.HostConfig.RestartPolicy as { Name: string; MaximumRetryCount: number };
  host.RestartPolicy = { ...restart, Name: restart.Name === '' ? 'no' : restart.Name };

  const config: Record<string, unknown> = {};
  for (const key of CONFIG_FIELDS) config[key] = c.Config[key];
  config.Env = (c.Config.Env as string[]).filter((e) => !e.startsWith('SKIFF_')).sort();
  config.Labels = Object.fromEntries(
    Object.entries(c.Config.Labels as Record<string, string>).filter(([k]) => !naming.ownLabel(k)),
  );
  if (service !== 'app') delete config.Hostname;
  delete config.StopTimeout;

  const shortId = c.Id.slice(0, 12);
  const aliases = Object.fromEntries(
    Object.entries(c.NetworkSettings.Networks).map(([network, endpoint]) => [
      unprefix(network, naming.network),
      (endpoint.Aliases ?? []).filter((a) => a !== shortId).sort(),
    ]),
  );
  const mounts = c.Mounts.map((m) => ({
    Type: m.Type,
    ...(m.Type === 'volume' ? { Name: unprefix(m.Name ?? '', naming.volume) } : { Source: m.Source }),
    Destination: m.Destination,
    RW: m.RW,
  })).sort((a, b) => a.Destination.localeCompare(b.Destination));
  return { HostConfig: host, Config: config, Mounts: mounts, Aliases: aliases };
}

async function inspect(id: string): Promise<Inspect> {
  return parse(Inspect, await client.json('GET', `/containers/${id}/json`), `inspection of container ${id}`);
}

describe('compose equivalence with docker-compose', function () {
  this.timeout(300_000);
  let dir: string;
  let variables: NodeJS.ProcessEnv;
  let composeEnv: NodeJS.ProcessEnv;

  const compose = (...args: string[]) =>
    run('docker-compose', ['-p', PROJECT, ...args], { cwd: dir, env: composeEnv, maxBuffer: 16 * 1024 * 1024 });

  async function cleanUp(): Promise<void> {
    if (dir !== undefined) await compose('down', '-v', '--remove-orphans', '-t', '1').catch(() => undefined);
    for (const c of await engine.listContainers(`${LABELS.fleet}=${FLEET}`)) {
      await client.json('DELETE', `/containers/${c.id}`, { query: { force: 'true', v: 'true' } });
    }
    for (const n of await engine.listNetworks()) if (n.labels[LABELS.fleet] === FLEET) await engine.removeNetwork(n.id);
    for (const v of ['data', 'logs']) await client.json('DELETE', `/volumes/${volumeName(v)}`).catch(() => undefined);
  }

  before(async () => {
    const image = await buildTestImage(env, { repo: 'compose-eq' });
    await engine.pullImage(image);
    dir = await mkdtemp(path.join(tmpdir(), 'skiff-compose-eq-'));
    const bindDir = path.join(dir, 'binds');
    await mkdir(path.join(bindDir, 'short'), { recursive: true });
    await mkdir(path.join(bindDir, 'long'), { recursive: true });
    await writeFile(path.join(dir, 'docker-compose.yml'), COMPOSE);
    // .env next to the compose file, and an env_file with a `$` that must stay literal.
    await writeFile(path.join(dir, '.env'), 'SITE=north\nEQ_PORT=47760\n');
    await writeFile(path.join(dir, 'meter.env'), '# meter settings\nMETER_BAUD=115200\nOVERRIDDEN=by-file\nRAW=a$b\n');
    variables = { EQ_IMAGE: image, BIND_DIR: bindDir, FROM_SHELL: 'shell-value' };
    composeEnv = { PATH: process.env.PATH, DOCKER_HOST: env.deviceDockerHost, ...variables };
    await cleanUp();
  });

  after(async () => {
    await cleanUp();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it("creates containers equal to docker-compose's, field by field, and runs them", async () => {
    // The reference: docker-compose up, which waits for db healthy and job completed before app. The privileged
    // sniffer is created but not started, by both sides: this test machine's root lacks capabilities a privileged
    // container gets, so runc refuses to start one here (on a Pi it starts).
    await compose('up', '-d', 'db', 'job', 'app');
    await compose('up', '--no-start', 'sniffer');
    const reference: Record<string, Record<string, unknown>> = {};
    const referenceStates: Record<string, string> = {};
    for (const service of SERVICES) {
      const { stdout } = await compose('ps', '-q', service);
      const c = await inspect(stdout.trim());
      reference[service] = comparable(c, COMPOSE_NAMING, service);
      referenceStates[service] = c.State.Status;
    }
    // The reference really carries what the file sets, so the comparison below is about set values, not defaults.
    const app = reference.app as { HostConfig: Record<string, unknown>; Config: { Env: string[] } };
    assert.deepEqual(
      [app.HostConfig.Init, app.HostConfig.Memory, app.HostConfig.NanoCpus, app.HostConfig.ShmSize],
      [true, 64 * 1024 * 1024, 5e8, 8 * 1024 * 1024],
    );
    for (const e of [
      'FROM_SHELL=shell-value',
      'METER_BAUD=115200',
      'OVERRIDDEN=by-environment',
      'PRICE=$5',
      'RAW=a$b',
      'SITE=north',
    ]) {
      assert.ok(app.Config.Env.includes(e), e);
    }
    await compose('down', '-v', '-t', '1');

    // Skiff: resolved on the developer's machine, normalised by the API, mapped and created on the device.
    const resolved = resolveComposeForPush(COMPOSE, dir, variables);
    const normalized = normalizeCompose(resolved, {});
    const target: TargetState = acceptTarget(
      {
        schemaVersion: 1,
        device: { uuid: DEVICE, name: 'eq' },
        fleet: { name: FLEET },
        release: { id: 'r1', version: '1' },
        services: normalized.services,
        volumes: normalized.volumes,
        networks: normalized.networks,
        config: DEFAULT_DEVICE_CONFIG,
      },
      DEVICE,
    );
    assert.deepEqual(target.networks, ['backend', 'frontend']);
    const byName = new Map(target.services.map((s) => [s.name, s]));
    assert.deepEqual(byName.get('app')?.dependsOn, { db: 'service_healthy', job: 'service_completed_successfully' });
    assert.deepEqual(byName.get('sniffer')?.dependsOn, { db: 'service_started' });
    // StopTimeout is no part of what compose 1.29 creates (see above): checked against the file instead.
    assert.equal(desiredContainer(byName.get('app')!, target).options.StopTimeout, 7);

    for (const network of target.networks) {
      await engine.createNetwork(networkName(network), { [LABELS.managed]: 'true', [LABELS.fleet]: FLEET });
    }
    for (const volume of target.volumes) await engine.createVolume(volumeName(volume), { [LABELS.managed]: 'true' });
    const ids: Record<string, string> = {};
    // In dependency order, as the planner would start them.
    for (const service of ['db', 'job', 'app', 'sniffer']) {
      const desired = desiredContainer(byName.get(service)!, target);
      ids[service] = await engine.createContainer(desired.name, desired.options);
      if (service !== 'sniffer') await engine.startContainer(ids[service]);
      if (service === 'job') {
        await eventually('job to complete', 30_000, async () =>
          (await inspect(ids.job!)).State.Status === 'exited' ? true : undefined,
        );
      }
    }
    for (const service of SERVICES) {
      const c = await inspect(ids[service]!);
      assert.deepEqual(comparable(c, SKIFF_NAMING, service), reference[service], `service ${service}`);
      assert.equal(c.State.Status, referenceStates[service], `service ${service} state`);
    }
    assert.equal(referenceStates.app, 'running');
    assert.equal(referenceStates.sniffer, 'created');
    assert.equal(referenceStates.job, 'exited');
  });
});

/**
 * The corpus: compose files written like the stacks people run on Pis (test/fixtures/compose), each created by
 * docker-compose 1.29 and by Skiff's push-and-supervisor path (push-time resolution, the API's normaliser, the
 * device's gate, planner and executor) on the same engine, and compared field by field: containers, networks and
 * volumes. Containers are created, not started, on both sides (the planner's "held" services): what is compared is
 * what the engine was asked to run, and privileged containers cannot start on this test machine.
 *
 * Known quirks of Debian's docker-compose 1.29, the reference (each file notes those it meets, under
 * x-equivalence.compose-1.29, with the value compose v2 gives under x-equivalence.expect):
 * - deploy.resources only with --compatibility (passed), and no deploy.resources.limits.pids;
 * - no `uts`, `cgroup`, `attach`, depends_on `restart`/`required`, env_file `path`/`required`, long-syntax device
 *   mappings, `bind.create_host_path`, `tmpfs.mode`, port `app_protocol`, per-network `mac_address`, top-level `name`;
 * - it refuses to extend a service that has depends_on (v2 and the specification allow it);
 * - it adds link aliases with container numbers (`gpsd_1`, `proj_gpsd_1`; v2 `gpsd-1`), which Skiff has no use for;
 * - it names containers PROJECT_SERVICE_1, networks and volumes PROJECT_NAME (v2: PROJECT-SERVICE-1).
 */
describe('compose equivalence: the corpus', function () {
  this.timeout(600_000);
  const FLEET_C = 'compose-corpus';
  const DEVICE_C = 'c0ffee00-0000-4000-8000-00000000c0a5';
  const EXTERNAL = { network: 'eq-shared-lan', volume: 'eq-shared-certs' };
  let work: string;
  let image: string;
  let variables: Record<string, string>;

  const compose = (project: string, file: string, profiles: string[], ...args: string[]) =>
    run(
      'docker-compose',
      ['--compatibility', '-p', project, '-f', file, ...profiles.flatMap((p) => ['--profile', p]), ...args],
      {
        cwd: work,
        env: { PATH: process.env.PATH, DOCKER_HOST: env.deviceDockerHost, ...variables },
        maxBuffer: 16 * 1024 * 1024,
      },
    );

  async function inspectAs<T extends TSchema>(schema: T, what: string, url: string): Promise<Static<T>> {
    return parse(schema, await client.json('GET', url), what);
  }

  async function removeSkiffObjects(): Promise<void> {
    for (const c of await engine.listContainers(`${LABELS.fleet}=${FLEET_C}`)) {
      await client.json('DELETE', `/containers/${c.id}`, { query: { force: 'true', v: 'true' } });
    }
    for (const n of await engine.listNetworks()) {
      if (n.labels[LABELS.fleet] === FLEET_C) await engine.removeNetwork(n.id);
    }
    const volumes = await inspectAs(VolumeList, 'volume list', '/volumes');
    for (const v of volumes.Volumes ?? []) {
      if (v.Labels?.[LABELS.fleet] === FLEET_C || /^skiff_.*_anon_[0-9a-f]{12}$/.test(v.Name)) {
        await client.json('DELETE', `/volumes/${v.Name}`).catch(() => undefined);
      }
    }
  }

  before(async () => {
    image = await buildTestImage(env, { repo: 'compose-corpus' });
    await engine.pullImage(image);
    work = await mkdtemp(path.join(tmpdir(), 'skiff-compose-corpus-'));
    await cp(CORPUS_DIR, work, { recursive: true });
    variables = { EQ_IMAGE: image, BIND_DIR: path.join(work, 'binds') };
    // Bind sources exist as they would on a Pi (create_host_path: false needs its own).
    for (const file of corpusFiles()) {
      const text = await readFile(path.join(work, file), 'utf8');
      for (const [, dir] of text.matchAll(/\$\{BIND_DIR\}\/([\w/.-]+)/g)) {
        await mkdir(path.join(variables.BIND_DIR ?? '', dir ?? ''), { recursive: true });
      }
    }
    await removeSkiffObjects();
    await client
      .json('POST', '/networks/create', { body: { Name: EXTERNAL.network, Driver: 'bridge', CheckDuplicate: true } })
      .catch(() => undefined);
    await client.json('POST', '/volumes/create', { body: { Name: EXTERNAL.volume } });
  });

  after(async () => {
    await removeSkiffObjects();
    await client.json('DELETE', `/networks/${EXTERNAL.network}`).catch(() => undefined);
    await client.json('DELETE', `/volumes/${EXTERNAL.volume}`).catch(() => undefined);
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  it('has at least 25 compose files', () => {
    assert.ok(corpusFiles().length >= 25, `${corpusFiles().length} files`);
  });

  it('covers every key of the specification Skiff supports, and refuses each other key with a reason', () => {
    const used = usedKeys(corpusFiles().map((f) => readFileSync(path.join(CORPUS_DIR, f), 'utf8')));
    // `build` needs a build on the developer's machine: skiff push builds, pushes and pins the image
    // (test/unit/cli-compose-build.test.ts, test/e2e); the release then holds a digest like every corpus file.
    used.service.add('build');
    // configs and secrets are files of the project folder that skiff push packs; docker compose 1.29 binds them
    // from that folder instead: test/unit/compose-files.test.ts and test/integration/release-files.test.ts.
    for (const key of ['configs', 'secrets']) {
      used.topLevel.add(key);
      used.service.add(key);
    }
    const problems: string[] = [];
    for (const [section, keys] of Object.entries(specKeys())) {
      const supported: readonly string[] = SUPPORTED[section as Section];
      const refused = REFUSED[section as Section] ?? {};
      for (const key of keys) {
        if (supported.includes(key)) {
          if (!used[section as Section].has(key))
            problems.push(`${section}.${key}: supported, but no corpus file uses it`);
        } else if (refused[key] === undefined) {
          problems.push(`${section}.${key}: neither supported nor refused with a reason`);
        }
      }
      for (const key of supported) {
        if (!keys.includes(key)) problems.push(`${section}.${key}: supported, but not in the specification`);
      }
    }
    assert.deepEqual(problems, []);
  });

  for (const file of corpusFiles()) {
    it(`${file}: docker-compose and Skiff create equal containers, networks and volumes`, async () => {
      const text = await readFile(path.join(work, file), 'utf8');
      const settings = runSettings(text);
      const project = `eq${file.slice(0, 2)}`;
      const fileFor129 = `${file}.compose-1.29.yml`;
      await writeFile(path.join(work, fileFor129), forCompose129(text, settings));

      const declared = parseDocument(text).toJS() as Declared;

      // The reference. Started: 1.29 joins a container's further networks, and another service's network namespace,
      // only when it starts it.
      const running = Object.keys(declared.services ?? {}).filter(
        (s) => !settings.createdOnly.includes(s) && !isLeftOut(declared, s, settings.profiles),
      );
      let reference: Side;
      try {
        if (running.length > 0) await compose(project, fileFor129, settings.profiles, 'up', '-d', ...running);
        if (settings.createdOnly.length > 0) {
          await compose(project, fileFor129, settings.profiles, 'up', '--no-start', ...settings.createdOnly);
        }
        reference = await sideOf(
          `com.docker.compose.project=${project}`,
          (labels) => labels['com.docker.compose.service'],
          composeNaming(project, declared),
        );
      } finally {
        await compose(project, fileFor129, settings.profiles, 'down', '-v', '--remove-orphans', '-t', '1');
      }
      for (const edit of settings.expect) setIn(reference.containers, edit.at, edit.value);

      // Skiff: resolved as `skiff push` does, normalised as the API does, planned and executed as the device does.
      const resolved = resolveComposeForPush(text, work, variables);
      const normalized = normalizeCompose(resolved, {}, { profiles: settings.profiles });
      const target: TargetState = acceptTarget(
        {
          schemaVersion: 1,
          device: { uuid: DEVICE_C, name: 'corpus' },
          fleet: { name: FLEET_C },
          release: { id: file, version: '1' },
          services: normalized.services,
          volumes: normalized.volumes,
          networks: normalized.networks,
          ...(normalized.networkDefinitions ? { networkDefinitions: normalized.networkDefinitions } : {}),
          ...(normalized.volumeDefinitions ? { volumeDefinitions: normalized.volumeDefinitions } : {}),
          config: DEFAULT_DEVICE_CONFIG,
        },
        DEVICE_C,
      );
      try {
        await converge(target, new Set(settings.createdOnly));
        const skiff = await sideOf(
          `${LABELS.fleet}=${FLEET_C}`,
          (labels) => labels[LABELS.service],
          skiffNaming(target),
        );
        assert.deepEqual(Object.keys(skiff.containers).sort(), Object.keys(reference.containers).sort(), 'services');
        assert.deepEqual(differences(skiff, reference), [], file);
      } finally {
        await removeSkiffObjects();
      }

      async function sideOf(
        filter: string,
        serviceOf: (labels: Record<string, string>) => string | undefined,
        naming: NamingWithRegistry,
      ): Promise<Side> {
        const listed = (await client.json('GET', '/containers/json', {
          query: { all: 'true', filters: JSON.stringify({ label: [filter] }) },
        })) as { Id: string }[];
        const inspected = await Promise.all(
          listed.map((c) => inspectAs(ContainerInspect, `container ${c.Id}`, `/containers/${c.Id}/json`)),
        );
        naming.register(inspected, serviceOf);
        const containers: Record<string, Record<string, unknown>> = {};
        const networkNames = new Set<string>();
        const volumeNames = new Set<string>();
        for (const c of inspected) {
          const service = serviceOf((c.Config.Labels as Record<string, string>) ?? {}) ?? c.Name;
          containers[service] = comparableContainer(c, naming);
          for (const n of Object.keys(c.NetworkSettings.Networks ?? {})) networkNames.add(n);
          for (const m of c.Mounts) if (m.Type === 'volume' && m.Name !== undefined) volumeNames.add(m.Name);
        }
        const networks: Record<string, unknown> = {};
        for (const name of networkNames) {
          const compose = naming.network(name);
          if (declared.networks?.[compose]?.external !== undefined || ['host', 'none', 'bridge'].includes(name))
            continue;
          const n = await inspectAs(NetworkInspect, `network ${name}`, `/networks/${name}`);
          networks[compose] = comparableNetwork(n, naming, declared.networks?.[compose]);
        }
        const volumes: Record<string, unknown> = {};
        for (const name of volumeNames) {
          if (naming.anonymous(name)) continue;
          const compose = naming.volume(name);
          if (declared.volumes?.[compose]?.external !== undefined) continue;
          volumes[compose] = comparableVolume(
            await inspectAs(VolumeInspect, `volume ${name}`, `/volumes/${name}`),
            naming,
          );
        }
        return { containers, networks, volumes };
      }
    });
  }

  /**
   * Plans and executes until nothing is left to do, as the device's reconciler does: dependencies waited for, the
   * services docker-compose only created held (created, not started).
   */
  async function converge(target: TargetState, held: ReadonlySet<string>): Promise<void> {
    const images = target.services.map((s) => s.image);
    const deadline = Date.now() + 120_000;
    let lastError: unknown;
    while (Date.now() < deadline) {
      const current = await readCurrentState(engine, images);
      const plan = planUpdate(current, target, { locks: new Set(), handovers: new Map(), now: new Date(), held });
      if (plan.error !== null) throw new Error(plan.error);
      if (plan.steps.length === 0 && plan.waiting.length === 0) return;
      if (plan.steps.length === 0) {
        await new Promise((resolve) => setTimeout(resolve, 500));
        continue;
      }
      try {
        await execute(plan.steps, { engine, log: quietLog });
        lastError = undefined;
      } catch (err) {
        lastError = err;
      }
    }
    throw new Error(`the plan did not converge in 2 minutes: ${String(lastError)}`);
  }
});

interface Side {
  containers: Record<string, Record<string, unknown>>;
  networks: Record<string, unknown>;
  volumes: Record<string, unknown>;
}

const quietLog = createLogger('test-compose-corpus', { test: 'integration' });

const VolumeList = Type.Object({
  Volumes: Type.Union([
    Type.Array(
      Type.Object({
        Name: Type.String(),
        Labels: Type.Union([Type.Record(Type.String(), Type.String()), Type.Null()]),
      }),
    ),
    Type.Null(),
  ]),
});

interface NamingWithRegistry extends CorpusNaming {
  register(containers: ContainerInspect[], serviceOf: (labels: Record<string, string>) => string | undefined): void;
}

function containerRegistry(): {
  service(nameOrId: string): string;
  register(containers: ContainerInspect[], serviceOf: (labels: Record<string, string>) => string | undefined): void;
} {
  const services = new Map<string, string>();
  return {
    service: (nameOrId) => services.get(nameOrId.replace(/^\//, '')) ?? nameOrId,
    register(containers, serviceOf) {
      for (const c of containers) {
        const service = serviceOf((c.Config.Labels as Record<string, string>) ?? {}) ?? c.Name;
        services.set(c.Id, service);
        services.set(c.Name.replace(/^\//, ''), service);
      }
    },
  };
}

interface Declared {
  services?: Record<string, { profiles?: string[] } | null>;
  networks?: Record<string, { ipam?: unknown; external?: unknown; name?: string; attachable?: unknown } | null>;
  volumes?: Record<string, { external?: unknown; name?: string } | null>;
}

function isLeftOut(declared: Declared, service: string, profiles: string[]): boolean {
  const own = declared.services?.[service]?.profiles ?? [];
  return own.length > 0 && !own.some((p) => profiles.includes(p));
}

function composeNaming(project: string, declared: Declared): NamingWithRegistry {
  const named = (section: Declared['networks'] | Declared['volumes']): Map<string, string> =>
    new Map(
      Object.entries(section ?? {}).flatMap(([key, d]) =>
        d?.name !== undefined ? [[d.name, key]] : d?.external ? [[key, key]] : [],
      ),
    );
  const networks = named(declared.networks);
  const volumes = named(declared.volumes);
  const unprefix = (name: string): string => (name.startsWith(`${project}_`) ? name.slice(project.length + 1) : name);
  return {
    ...containerRegistry(),
    network: (name) => networks.get(name) ?? unprefix(name),
    volume: (name) => volumes.get(name) ?? unprefix(name),
    ownLabel: (key) => key.startsWith('com.docker.compose.'),
    anonymous: (name) => /^[0-9a-f]{64}$/.test(name),
  };
}

function skiffNaming(target: TargetState): NamingWithRegistry {
  const byEngineName = (
    names: string[],
    definitions: Record<string, { name?: string; external?: boolean }> | undefined,
    prefixed: (n: string) => string,
  ): Map<string, string> =>
    new Map(names.map((n) => [definitions?.[n]?.name ?? (definitions?.[n]?.external ? n : prefixed(n)), n]));
  const networks = byEngineName(target.networks, target.networkDefinitions, networkName);
  const volumes = byEngineName(target.volumes, target.volumeDefinitions, volumeName);
  return {
    ...containerRegistry(),
    network: (name) => networks.get(name) ?? name,
    volume: (name) => volumes.get(name) ?? name,
    ownLabel: (key) => SKIFF_LABELS.includes(key),
    anonymous: (name) => /^skiff_.*_anon_[0-9a-f]{12}$/.test(name),
  };
}

/** Keys of the compose specification's schema, by the sections of SUPPORTED. */
function specKeys(): Record<Section, string[]> {
  const spec = JSON.parse(readFileSync(SPEC_FILE, 'utf8')) as SpecNode;
  const d = spec.definitions ?? {};
  const service = d.service?.properties ?? {};
  const keys = (node: SpecNode | undefined): string[] => Object.keys(node?.properties ?? {});
  const objectBranch = (node: SpecNode | undefined): SpecNode | undefined =>
    node?.oneOf?.find((b) => b.type === 'object' || b.properties !== undefined || b.patternProperties !== undefined);
  const patterned = (node: SpecNode | undefined): SpecNode | undefined =>
    Object.values(node?.patternProperties ?? {})[0];
  const mount = objectBranch(service.volumes?.items);
  const resources = d.deployment?.properties?.resources;
  return {
    topLevel: keys(spec),
    service: keys(d.service),
    volume: keys(d.volume),
    network: keys(d.network),
    port: keys(objectBranch(service.ports?.items)),
    mount: keys(mount),
    mountBind: keys(mount?.properties?.bind),
    mountVolume: keys(mount?.properties?.volume),
    mountTmpfs: keys(mount?.properties?.tmpfs),
    device: keys(objectBranch(service.devices?.items) ?? objectBranch(d.devices?.items) ?? d.devices?.items),
    dependency: keys(patterned(objectBranch(service.depends_on))),
    serviceNetwork: keys(objectBranch(patterned(objectBranch(service.networks)))),
    healthcheck: keys(d.healthcheck),
    deploy: keys(d.deployment),
    resources: keys(resources),
    limits: keys(resources?.properties?.limits),
    reservations: keys(resources?.properties?.reservations),
  };
}

interface SpecNode {
  type?: string | string[];
  properties?: Record<string, SpecNode>;
  patternProperties?: Record<string, SpecNode>;
  oneOf?: SpecNode[];
  items?: SpecNode;
  definitions?: Record<string, SpecNode>;
}

const SPEC_FILE = path.resolve(CORPUS_DIR, '..', '..', '..', 'protocol', 'compose', 'compose-spec.json');

/** The keys the corpus files use, by the sections of SUPPORTED. */
function usedKeys(texts: string[]): Record<Section, Set<string>> {
  const used = Object.fromEntries(Object.keys(SUPPORTED).map((s) => [s, new Set<string>()])) as Record<
    Section,
    Set<string>
  >;
  type Node = Record<string, unknown>;
  const isNode = (v: unknown): v is Node => v !== null && typeof v === 'object' && !Array.isArray(v);
  const add = (section: Section, value: unknown): void => {
    if (isNode(value)) for (const key of Object.keys(value)) used[section].add(key);
  };
  const all = [...texts, readFileSync(path.join(CORPUS_DIR, 'common', 'pi-base.yml'), 'utf8')];
  for (const text of all) {
    const file = parseDocument(text).toJS() as Node;
    add('topLevel', file);
    for (const n of Object.values((file.networks ?? {}) as Node)) add('network', n);
    for (const v of Object.values((file.volumes ?? {}) as Node)) add('volume', v);
    for (const service of Object.values((file.services ?? {}) as Node)) {
      if (!isNode(service)) continue;
      add('service', service);
      for (const p of (service.ports ?? []) as unknown[]) add('port', p);
      for (const m of (service.volumes ?? []) as unknown[]) {
        add('mount', m);
        if (isNode(m)) {
          add('mountBind', m.bind);
          add('mountVolume', m.volume);
          add('mountTmpfs', m.tmpfs);
        }
      }
      for (const dev of (service.devices ?? []) as unknown[]) add('device', dev);
      if (isNode(service.depends_on)) for (const dep of Object.values(service.depends_on)) add('dependency', dep);
      if (isNode(service.networks)) for (const n of Object.values(service.networks)) add('serviceNetwork', n);
      add('healthcheck', service.healthcheck);
      if (isNode(service.deploy)) {
        add('deploy', service.deploy);
        const resources = service.deploy.resources;
        add('resources', resources);
        if (isNode(resources)) {
          add('limits', resources.limits);
          add('reservations', resources.reservations);
        }
      }
    }
  }
  return used;
}
