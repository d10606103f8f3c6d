import assert from 'node:assert/strict';
import { normalizeCompose } from '../../protocol/compose/normalize.js';
import { ValidationError, type Issue } from '../../protocol/validate.js';
import type { ServiceSpec } from '../../protocol/target-state.js';
import { desiredState } from '../../supervisor/plan/desired-state.js';
import { targetState } from '../../harness/supervisor-targets.js';

const IMAGE = `registry.test:5000/meter@sha256:${'a'.repeat(64)}`;

function specs(yaml: string, profiles: string[] = []): Map<string, ServiceSpec> {
  return new Map(normalizeCompose(yaml, {}, { profiles }).services.map((s) => [s.name, s]));
}

function issues(yaml: string, profiles: string[] = []): Issue[] {
  try {
    normalizeCompose(yaml, {}, { profiles });
  } catch (err) {
    if (err instanceof ValidationError) return err.issues;
    throw err;
  }
  return assert.fail('the compose file was accepted');
}

describe('compose services beyond the basics', () => {
  it('maps the host, namespace and resource keys', () => {
    const s = specs(`services:
  meter:
    image: ${IMAGE}
    group_add: [dialout, "20"]
    expose: ["9100", "5353/udp", "7000-7001"]
    domainname: example.net
    dns_search: lan
    dns_opt: [ndots:1]
    pid: host
    ipc: shareable
    uts: host
    userns_mode: host
    cgroup: private
    mem_reservation: 32m
    memswap_limit: -1
    mem_swappiness: 10
    oom_kill_disable: true
    oom_score_adj: -500
    cpu_shares: 512
    cpuset: "0-1"
    cpu_quota: 50000
    cpu_period: 100000
    pids_limit: 100
    mac_address: "02:42:ac:11:00:02"
    stdin_open: true
    tty: true
    platform: linux/arm64
    device_cgroup_rules: ["c 188:* rmw"]
    pull_policy: always
    scale: 1
`).get('meter');
    assert.deepEqual(
      {
        groupAdd: s?.groupAdd,
        expose: s?.expose,
        dnsSearch: s?.dnsSearch,
        pid: s?.pid,
        ipc: s?.ipc,
        memoryReservationBytes: s?.memoryReservationBytes,
        memorySwapBytes: s?.memorySwapBytes,
        cpuset: s?.cpuset,
        pidsLimit: s?.pidsLimit,
        tty: s?.tty,
        stdinOpen: s?.stdinOpen,
        platform: s?.platform,
      },
      {
        groupAdd: ['dialout', '20'],
        expose: ['9100/tcp', '5353/udp', '7000/tcp', '7001/tcp'],
        dnsSearch: ['lan'],
        pid: 'host',
        ipc: 'shareable',
        memoryReservationBytes: 32 * 1024 * 1024,
        memorySwapBytes: -1,
        cpuset: '0-1',
        pidsLimit: 100,
        tty: true,
        stdinOpen: true,
        platform: 'linux/arm64',
      },
    );
  });

  it('refuses a bad platform, another container namespace and scale above one, saying why', () => {
    const found = issues(`services:
  meter:
    image: ${IMAGE}
    platform: arm64
    pid: "service:other"
    scale: 3
`);
    assert.deepEqual(
      found.map((i) => i.path),
      ['services.meter.pid', 'services.meter.platform', 'services.meter.scale'].sort((a, b) =>
        found.findIndex((i) => i.path === a) < found.findIndex((i) => i.path === b) ? -1 : 1,
      ),
    );
    assert.match(found.find((i) => i.path === 'services.meter.platform')?.message ?? '', /OS\/ARCHITECTURE/);
    assert.match(found.find((i) => i.path === 'services.meter.scale')?.message ?? '', /one per service/);
  });

  it('takes deploy resource limits and memory reservation as compose v2, refusing swarm keys', () => {
    const s = specs(`services:
  db:
    image: ${IMAGE}
    mem_limit: 1g
    deploy:
      resources:
        limits: {cpus: "0.5", memory: 256m, pids: 200}
        reservations: {memory: 64m}
`).get('db');
    assert.deepEqual(
      [s?.cpus, s?.memoryBytes, s?.pidsLimit, s?.memoryReservationBytes],
      [0.5, 256 << 20, 200, 64 << 20],
    );
    const placement = issues(
      `services:\n  db:\n    image: ${IMAGE}\n    deploy:\n      placement: {max_replicas_per_node: 1}\n`,
    );
    assert.ok(placement.some((i) => i.path === 'services.db.deploy.placement' && /swarm/.test(i.message)));
    const cpus = issues(
      `services:\n  db:\n    image: ${IMAGE}\n    deploy:\n      resources:\n        reservations: {cpus: "1"}\n`,
    );
    assert.ok(cpus.some((i) => i.path === 'services.db.deploy.resources.reservations.cpus' && /swarm/.test(i.message)));
  });

  it("keeps the image's health test when the healthcheck has none", () => {
    const s = specs(`services:
  db:
    image: ${IMAGE}
    healthcheck: {interval: 10s, retries: 5}
`).get('db');
    assert.deepEqual(s?.healthcheck, { intervalSeconds: 10, retries: 5 });
  });

  it('runs services without profiles plus the enabled ones; optional dependencies on the others drop', () => {
    const yaml = `services:
  app:
    image: ${IMAGE}
    depends_on:
      debug: {condition: service_started, required: false}
      db: {condition: service_healthy, restart: true}
  db:
    image: ${IMAGE}
  debug:
    image: ${IMAGE}
    profiles: [debug]
`;
    const plain = specs(yaml);
    assert.deepEqual([...plain.keys()], ['app', 'db']);
    assert.deepEqual(plain.get('app')?.dependsOn, { db: 'service_healthy' });
    assert.deepEqual(plain.get('app')?.restartWith, ['db']);
    const debugging = specs(yaml, ['debug']);
    assert.deepEqual([...debugging.keys()], ['app', 'db', 'debug']);
    assert.deepEqual(debugging.get('app')?.dependsOn, { debug: 'service_started', db: 'service_healthy' });
    const required = yaml.replace('required: false', 'required: true');
    assert.match(
      issues(required)
        .map((i) => i.message)
        .join('\n'),
      /profile 'debug', which the release does not enable/,
    );
  });

  it('resolves extends within the file by the merge rules', () => {
    const s = specs(`services:
  base:
    image: ${IMAGE}
    environment: [A=1, B=2]
    command: [run, base]
    volumes: ["/srv/a:/a", "/srv/b:/b"]
    cap_add: [NET_ADMIN]
  meter:
    extends: base
    environment: {B: "3"}
    command: [run, meter]
    volumes: ["/srv/other:/b"]
    cap_add: [SYS_TIME]
`).get('meter');
    assert.deepEqual(s?.environment, { A: '1', B: '3' });
    assert.deepEqual(s?.command, ['run', 'meter']);
    assert.deepEqual(
      s?.volumes.map((v) => `${v.source}:${v.target}`),
      ['/srv/a:/a', '/srv/other:/b'],
    );
    assert.deepEqual(s?.capAdd, ['NET_ADMIN', 'SYS_TIME']);
    assert.match(
      issues(`services:\n  a:\n    extends: {service: b, file: other.yml}\n`)
        .map((i) => i.message)
        .join('\n'),
      /only `skiff push` can read/,
    );
  });

  it('names peers by engine container name, so recreating one recreates its dependents', () => {
    const yaml = (vpnEnv: string) => `services:
  vpn:
    image: ${IMAGE}
    environment: [SERVER=${vpnEnv}]
  scraper:
    image: ${IMAGE}
    network_mode: service:vpn
    volumes_from: ["vpn:ro"]
  app:
    image: ${IMAGE}
    links: ["vpn:tunnel"]
`;
    const state = (vpnEnv: string) => {
      const n = normalizeCompose(yaml(vpnEnv), {});
      return desiredState(targetState(n.services, { networks: n.networks }));
    };
    const one = state('a');
    const two = state('b');
    const vpn = one.containers.find((c) => c.service === 'vpn');
    const scraper = one.containers.find((c) => c.service === 'scraper');
    assert.equal(scraper?.options.HostConfig?.NetworkMode, `container:${vpn?.name}`);
    assert.deepEqual(scraper?.options.HostConfig?.VolumesFrom, [`${vpn?.name}:ro`]);
    assert.deepEqual(scraper?.options.NetworkingConfig?.EndpointsConfig, {});
    assert.deepEqual(scraper?.dependsOn, { vpn: 'service_started' });
    assert.notEqual(two.containers.find((c) => c.service === 'scraper')?.name, scraper?.name);
    const app = one.containers.find((c) => c.service === 'app');
    assert.deepEqual(app?.options.HostConfig?.Links, [`${vpn?.name}:tunnel`]);
    assert.deepEqual(app?.options.NetworkingConfig?.EndpointsConfig?.skiff_default?.Links, [`${vpn?.name}:tunnel`]);
  });
});
