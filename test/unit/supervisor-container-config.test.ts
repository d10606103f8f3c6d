import assert from 'node:assert/strict';
import { desiredContainer } from '../../supervisor/plan/container-config.js';
import type { ServiceSpec } from '../../protocol/target-state.js';
import { fakeImage, serviceSpec, targetState } from '../../harness/supervisor-targets.js';

const image = fakeImage('meter', 'm1');

describe('container config', () => {
  it('maps a service to engine create options', () => {
    const spec = serviceSpec('meter', image, {
      command: ['run', '--port', '/dev/ttyUSB0'],
      entrypoint: ['/bin/meter'],
      environment: { MODE: 'p1', SITE: 'from-release' },
      labels: { team: 'energy', 'io.skiff.service': 'spoofed' },
      volumes: [
        { type: 'volume', source: 'data', target: '/data', readOnly: false },
        { type: 'bind', source: '/var/run/dbus', target: '/run/dbus', readOnly: true },
        { type: 'tmpfs', target: '/tmp', readOnly: false },
      ],
      ports: [
        { target: 80, published: 8080, protocol: 'tcp' },
        { target: 80, published: 8081, hostIp: '127.0.0.1', protocol: 'tcp' },
        { target: 502, protocol: 'udp' },
      ],
      networks: { backend: { aliases: ['reader'] }, frontend: { aliases: [] } },
      restart: 'unless-stopped',
      privileged: true,
      devices: ['/dev/ttyUSB0', '/dev/gpiomem:/dev/gpio:rw'],
      healthcheck: {
        test: ['CMD', 'meter', 'ping'],
        intervalSeconds: 30,
        timeoutSeconds: 1.5,
        retries: 3,
        startPeriodSeconds: 5,
      },
      workingDir: '/app',
      user: '1000:1000',
      hostname: 'meter',
      stopSignal: 'SIGINT',
      stopGracePeriodSeconds: 2.5,
    });
    const d = desiredContainer(spec, targetState([spec], { releaseId: 'r7', env: { SITE: 'north' } }));
    const o = d.options;

    assert.equal(o.Image, image);
    assert.deepEqual(o.Cmd, ['run', '--port', '/dev/ttyUSB0']);
    assert.deepEqual(o.Entrypoint, ['/bin/meter']);
    assert.deepEqual(o.Env, [
      'MODE=p1',
      'SITE=north',
      'SKIFF_DEVICE_UUID=device-0000-test',
      'SKIFF_FLEET_NAME=meters',
      'SKIFF_LOCK_DIR=/run/skiff/lock',
      'SKIFF_SERVICE_NAME=meter',
    ]);
    assert.deepEqual(o.Labels, {
      team: 'energy',
      'io.skiff.managed': 'true',
      'io.skiff.fleet': 'meters',
      'io.skiff.service': 'meter',
      'io.skiff.release': 'r7',
      'io.skiff.config-hash': d.configHash,
    });
    assert.deepEqual(o.HostConfig?.Binds, ['/var/run/dbus:/run/dbus:ro']);
    assert.deepEqual(o.HostConfig?.Mounts, [
      { Type: 'volume', Source: 'skiff_data', Target: '/data', ReadOnly: false },
      { Type: 'tmpfs', Source: '', Target: '/tmp', ReadOnly: false },
    ]);
    assert.deepEqual(o.ExposedPorts, { '80/tcp': {}, '502/udp': {} });
    assert.deepEqual(o.HostConfig?.PortBindings, {
      '80/tcp': [
        { HostIp: '', HostPort: '8080' },
        { HostIp: '127.0.0.1', HostPort: '8081' },
      ],
      '502/udp': [{ HostIp: '', HostPort: '' }],
    });
    assert.deepEqual(o.HostConfig?.RestartPolicy, { Name: 'unless-stopped' });
    assert.equal(o.HostConfig?.Privileged, true);
    assert.deepEqual(o.HostConfig?.Devices, [
      { PathOnHost: '/dev/ttyUSB0', PathInContainer: '/dev/ttyUSB0', CgroupPermissions: 'rwm' },
      { PathOnHost: '/dev/gpiomem', PathInContainer: '/dev/gpio', CgroupPermissions: 'rw' },
    ]);
    assert.equal(o.HostConfig?.NetworkMode, 'skiff_backend');
    assert.deepEqual(o.NetworkingConfig?.EndpointsConfig, {
      skiff_backend: { Aliases: ['meter', 'reader'] },
      skiff_frontend: { Aliases: ['meter'] },
    });
    assert.deepEqual(d.networks, ['skiff_backend', 'skiff_frontend']);
    assert.deepEqual(o.Healthcheck, {
      Test: ['CMD', 'meter', 'ping'],
      Interval: 30e9,
      Timeout: 1.5e9,
      Retries: 3,
      StartPeriod: 5e9,
    });
    assert.equal(o.WorkingDir, '/app');
    assert.equal(o.User, '1000:1000');
    assert.equal(o.Hostname, 'meter');
    assert.equal(o.StopSignal, 'SIGINT');
    assert.equal(o.StopTimeout, 3);
    assert.equal(d.name, `skiff_meter_${d.configHash.slice(0, 12)}`);
  });

  it('joins the default network with the service name as alias when no network is given', () => {
    const spec = serviceSpec('api', image);
    const d = desiredContainer(spec, targetState([spec]));
    assert.equal(d.options.HostConfig?.NetworkMode, 'skiff_default');
    assert.deepEqual(d.options.NetworkingConfig?.EndpointsConfig, { skiff_default: { Aliases: ['api'] } });
  });

  it('uses a network mode as given and joins no managed network', () => {
    const spec = serviceSpec('sniffer', image, { networkMode: 'host' });
    const d = desiredContainer(spec, targetState([spec]));
    assert.equal(d.options.HostConfig?.NetworkMode, 'host');
    assert.deepEqual(d.options.NetworkingConfig?.EndpointsConfig, {});
    assert.deepEqual(d.networks, []);
  });

  it('maps the host, security and resource fields to HostConfig', () => {
    const spec = serviceSpec('meter', image, {
      restart: 'on-failure',
      restartMaxRetries: 3,
      tmpfs: { '/run': '', '/tmp': 'size=64m' },
      capAdd: ['NET_ADMIN'],
      capDrop: ['MKNOD'],
      extraHosts: ['broker:10.0.0.5'],
      dns: ['1.1.1.1'],
      init: true,
      shmSizeBytes: 1024,
      readOnly: true,
      securityOpt: ['no-new-privileges:true'],
      sysctls: { 'net.core.somaxconn': '1024' },
      ulimits: [{ name: 'nofile', soft: 1024, hard: 2048 }],
      memoryBytes: 64 * 1024 * 1024,
      cpus: 0.5,
      logging: { driver: 'json-file', options: { 'max-size': '1m' } },
    });
    const h = desiredContainer(spec, targetState([spec])).options.HostConfig;
    assert.deepEqual(h?.RestartPolicy, { Name: 'on-failure', MaximumRetryCount: 3 });
    assert.deepEqual(h?.Tmpfs, { '/run': '', '/tmp': 'size=64m' });
    assert.deepEqual(h?.CapAdd, ['NET_ADMIN']);
    assert.deepEqual(h?.CapDrop, ['MKNOD']);
    assert.deepEqual(h?.ExtraHosts, ['broker:10.0.0.5']);
    assert.deepEqual(h?.Dns, ['1.1.1.1']);
    assert.equal(h?.Init, true);
    assert.equal(h?.ShmSize, 1024);
    assert.equal(h?.ReadonlyRootfs, true);
    assert.deepEqual(h?.SecurityOpt, ['no-new-privileges:true']);
    assert.deepEqual(h?.Sysctls, { 'net.core.somaxconn': '1024' });
    assert.deepEqual(h?.Ulimits, [{ Name: 'nofile', Soft: 1024, Hard: 2048 }]);
    assert.equal(h?.Memory, 64 * 1024 * 1024);
    assert.equal(h?.NanoCpus, 5e8);
    assert.deepEqual(h?.LogConfig, { Type: 'json-file', Config: { 'max-size': '1m' } });
    const noDriver = serviceSpec('meter', image, { logging: { options: { 'max-size': '1m' } } });
    assert.deepEqual(desiredContainer(noDriver, targetState([noDriver])).options.HostConfig?.LogConfig, {
      Type: '',
      Config: { 'max-size': '1m' },
    });
  });

  describe('config hash', () => {
    const spec = serviceSpec('api', image, { environment: { A: '1', B: '2' } });
    const hash = (s = spec, extras: Parameters<typeof targetState>[1] = {}): string =>
      desiredContainer(s, targetState([s], extras)).configHash;

    it('does not depend on the release id or on key order', () => {
      const reordered = serviceSpec('api', image, { environment: { B: '2', A: '1' } });
      assert.equal(hash(spec, { releaseId: 'r1' }), hash(reordered, { releaseId: 'r2' }));
    });

    it('changes with the image, the service environment, the config env and the fleet', () => {
      const base = hash();
      assert.notEqual(hash(serviceSpec('api', fakeImage('api', 'other'), { environment: spec.environment })), base);
      assert.notEqual(hash(serviceSpec('api', image, { environment: { A: '1', B: '3' } })), base);
      assert.notEqual(hash(spec, { env: { TARIFF: 'night' } }), base);
      assert.notEqual(hash(spec, { fleet: 'other-fleet' }), base);
    });

    it('changes with each of the newer fields, and is the old hash when none is set', () => {
      const base = hash();
      // The hash of a spec without the newer fields, pinned: a supervisor update must not recreate such containers.
      const unchanged = desiredContainer(spec, targetState([spec])).options.HostConfig ?? {};
      for (const key of [
        'Tmpfs',
        'CapAdd',
        'CapDrop',
        'ExtraHosts',
        'Dns',
        'Init',
        'ShmSize',
        'ReadonlyRootfs',
        'SecurityOpt',
        'Sysctls',
        'Ulimits',
        'Memory',
        'NanoCpus',
        'LogConfig',
      ] as const) {
        assert.equal(unchanged[key], undefined, key);
      }
      assert.deepEqual(unchanged.RestartPolicy, { Name: 'always' });
      const variants: Partial<ServiceSpec>[] = [
        { restartMaxRetries: 2 },
        { tmpfs: { '/run': '' } },
        { capAdd: ['NET_ADMIN'] },
        { capDrop: ['MKNOD'] },
        { extraHosts: ['a:10.0.0.1'] },
        { dns: ['1.1.1.1'] },
        { init: true },
        { init: false },
        { shmSizeBytes: 1 },
        { readOnly: true },
        { securityOpt: ['no-new-privileges:true'] },
        { sysctls: { 'net.core.somaxconn': '1' } },
        { ulimits: [{ name: 'nofile', soft: 1, hard: 1 }] },
        { memoryBytes: 1 },
        { cpus: 1 },
        { logging: { options: {} } },
        { groupAdd: ['dialout'] },
        { expose: ['9100/tcp'] },
        { domainname: 'example.net' },
        { dnsSearch: ['lan'] },
        { dnsOptions: ['ndots:1'] },
        { pid: 'host' },
        { ipc: 'shareable' },
        { uts: 'host' },
        { userns: 'host' },
        { cgroupns: 'private' },
        { memoryReservationBytes: 1 },
        { memorySwapBytes: -1 },
        { memorySwappiness: 0 },
        { oomKillDisable: true },
        { oomScoreAdj: 100 },
        { cpuShares: 512 },
        { cpuset: '0' },
        { cpuQuota: 50000 },
        { cpuPeriod: 100000 },
        { pidsLimit: 64 },
        { deviceCgroupRules: ['c 188:* rmw'] },
        { macAddress: '02:42:ac:11:00:02' },
        { tty: true },
        { stdinOpen: true },
        { networks: { default: { aliases: [], ipv4Address: '10.1.0.2' } } },
        { healthcheck: { intervalSeconds: 5 } },
      ];
      const hashes = variants.map((v) => hash(serviceSpec('api', image, { environment: spec.environment, ...v })));
      hashes.forEach((h, i) => {
        assert.notEqual(h, base, JSON.stringify(variants[i]));
      });
      assert.equal(new Set(hashes).size, hashes.length);
    });

    it('is, for a spec without the newer fields, the hash the previous supervisor computed', () => {
      // Computed by the supervisor before the fuller compose support: a supervisor update must not recreate such
      // containers (they would lose their state and their uptime for nothing).
      assert.equal(hash(), PINNED_HASH);
    });
  });
});

const PINNED_HASH = '6ad9c03a1bcda3040f4a8b862b4954b8cb95bef065fbe174d8a6063e9e01f157';
