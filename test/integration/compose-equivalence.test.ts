// One compose file using every field Skiff supports, run twice on the same real engine: by Debian's
// `docker-compose up` (the reference) and by Skiff's own path (push-time resolution -> normaliser ->
// container-config -> engine adapter). The containers each creates are compared field by field; what differs on
// purpose is listed in DELIBERATE_DIFFERENCES and applied to both sides before comparing, nothing else.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Type, type Static } from '@sinclair/typebox';
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
