import assert from 'node:assert/strict';
import { normalizeCompose, type NormalizedCompose } from '../../protocol/compose/normalize.js';
import { check, ValidationError, type Issue } from '../../protocol/validate.js';
import { ServiceSpecSchema, type ServiceSpec } from '../../protocol/target-state.js';

const DIGEST_A = `sha256:${'a'.repeat(64)}`;
const DIGEST_B = `sha256:${'b'.repeat(64)}`;
const IMAGE = `127.0.0.1:5000/meters/reader@${DIGEST_A}`;

/** A one-service file with `body` (YAML lines, indented for the service) under the service. */
function oneService(body: string, tail = ''): string {
  return `services:\n  reader:\n    image: ${IMAGE}\n${body}\n${tail}`;
}

function service(yaml: string, images: Record<string, string> = {}, name = 'reader'): ServiceSpec {
  const result = normalizeCompose(yaml, images);
  const found = result.services.find((s) => s.name === name);
  assert.ok(found, `service ${name} in ${JSON.stringify(result.services.map((s) => s.name))}`);
  assert.deepEqual(check(ServiceSpecSchema, found), [], 'the result conforms to the protocol schema');
  return found;
}

function issuesOf(yaml: string, images: Record<string, string> = {}): Issue[] {
  try {
    normalizeCompose(yaml, images);
  } catch (err) {
    assert.ok(err instanceof ValidationError, `a ValidationError, got ${String(err)}`);
    assert.equal(err.what, 'compose file');
    return err.issues;
  }
  assert.fail('the compose file was accepted');
}

/** The one issue at `path`; its message must match `message`. */
function assertIssue(issues: Issue[], path: string, message: RegExp): void {
  const at = issues.filter((i) => i.path === path);
  assert.equal(at.length, 1, `one issue at ${path}, got ${JSON.stringify(issues)}`);
  assert.match(at[0]!.message, message);
}

describe('compose normalisation', () => {
  describe('defaults and images', () => {
    it('gives a minimal service its defaults and the implicit default network', () => {
      const result: NormalizedCompose = normalizeCompose(`services:\n  reader:\n    image: ${IMAGE}\n`, {});
      assert.deepEqual(result, {
        services: [
          {
            name: 'reader',
            image: IMAGE,
            environment: {},
            labels: {},
            volumes: [],
            ports: [],
            networks: { default: { aliases: [] } },
            restart: 'no',
            privileged: false,
            devices: [],
            dependsOn: {},
          },
        ],
        volumes: [],
        networks: ['default'],
      });
    });

    it('takes the digest from images over the compose image, and accepts build then', () => {
      const pinned = `127.0.0.1:5000/meters/web@${DIGEST_B}`;
      const yaml = `services:\n  web:\n    image: web:latest\n    build:\n      context: ./web\n      args: ["V=\${X}"]\n`;
      assert.equal(service(yaml, { web: pinned }, 'web').image, pinned);
    });

    it('refuses an image that is not pinned by digest, naming the service', () => {
      const issues = issuesOf('services:\n  reader:\n    image: meters/reader:1.2\n');
      assertIssue(
        issues,
        'services.reader.image',
        /'meters\/reader:1\.2' of service 'reader' is not pinned by digest.*line 3/,
      );
    });

    it('refuses a built service without a digest, and an images entry for no service', () => {
      const issues = issuesOf('services:\n  web:\n    build: ./web\n', { other: IMAGE });
      assertIssue(issues, 'services.web.build', /built from source but no image digest/);
      assertIssue(issues, 'images.other', /names no service/);
    });

    it('sorts services, volumes and networks by name so equal files give equal results', () => {
      const yaml =
        `services:\n  b:\n    image: ${IMAGE}\n    volumes: [z:/z, a:/a]\n  a:\n    image: ${IMAGE}\n    networks: [y, x]\n` +
        'volumes:\n  z:\n  a:\nnetworks:\n  y:\n  x:\n';
      const result = normalizeCompose(yaml, {});
      assert.deepEqual(
        result.services.map((s) => s.name),
        ['a', 'b'],
      );
      assert.deepEqual(result.volumes, ['a', 'z']);
      assert.deepEqual(result.networks, ['default', 'x', 'y']);
    });
  });

  describe('command and entrypoint', () => {
    it('splits a string like a shell would, quotes and escapes included', () => {
      const spec = service(
        oneService(`    command: node "server file.js" --name 'a b' c\\ d "q\\"x"\n    entrypoint: [/bin/sh, -c]`),
      );
      assert.deepEqual(spec.command, ['node', 'server file.js', '--name', 'a b', 'c d', 'q"x']);
      assert.deepEqual(spec.entrypoint, ['/bin/sh', '-c']);
    });

    it('refuses an unterminated quote', () => {
      assertIssue(
        issuesOf(oneService('    command: echo "oops')),
        'services.reader.command',
        /unterminated double quote/,
      );
    });
  });

  describe('environment and labels', () => {
    it('reads the map and list forms and stringifies values', () => {
      const spec = service(
        oneService(
          '    environment:\n      PORT: 8080\n      DEBUG: true\n      EMPTY: ""\n    labels: [com.example.tier=edge, flag]',
        ),
      );
      assert.deepEqual(spec.environment, { PORT: '8080', DEBUG: 'true', EMPTY: '' });
      assert.deepEqual(spec.labels, { 'com.example.tier': 'edge', flag: '' });
      assert.deepEqual(service(oneService('    environment: [A=1, B=x=y, C=]')).environment, {
        A: '1',
        B: 'x=y',
        C: '',
      });
    });

    it('refuses an environment variable without a value in either form', () => {
      assertIssue(
        issuesOf(oneService('    environment: [A=1, TOKEN]')),
        'services.reader.environment[1]',
        /'TOKEN' has no value/,
      );
      assertIssue(
        issuesOf(oneService('    environment:\n      TOKEN:')),
        'services.reader.environment.TOKEN',
        /'TOKEN' has no value/,
      );
    });

    it('turns $$ into $ and refuses variable interpolation', () => {
      assert.deepEqual(service(oneService('    environment: [PRICE=$$5]')).environment, { PRICE: '$5' });
      assertIssue(
        issuesOf(oneService('    environment: ["TAG=${TAG}"]')),
        'services.reader.environment[0]',
        /'TAG=\$\{TAG\}' holds a variable: push with `skiff push`/,
      );
      assertIssue(issuesOf(oneService('    command: echo $HOME')), 'services.reader.command', /holds a variable/);
    });
  });

  describe('ports', () => {
    it('expands every short form', () => {
      const spec = service(
        oneService(
          '    ports: ["8080:80", "127.0.0.1:5353:53/udp", "9000", 7000, "[::1]::443", "6000-6001:5000-5001"]',
        ),
      );
      assert.deepEqual(spec.ports, [
        { target: 80, published: 8080, protocol: 'tcp' },
        { target: 53, published: 5353, hostIp: '127.0.0.1', protocol: 'udp' },
        { target: 9000, protocol: 'tcp' },
        { target: 7000, protocol: 'tcp' },
        { target: 443, hostIp: '::1', protocol: 'tcp' },
        { target: 5000, published: 6000, protocol: 'tcp' },
        { target: 5001, published: 6001, protocol: 'tcp' },
      ]);
    });

    it('reads the long form', () => {
      const spec = service(
        oneService(
          '    ports:\n      - target: 80\n        published: "8081"\n        host_ip: 0.0.0.0\n        protocol: udp\n        name: web',
        ),
      );
      assert.deepEqual(spec.ports, [{ target: 80, published: 8081, hostIp: '0.0.0.0', protocol: 'udp' }]);
    });

    it('names the bad entry', () => {
      const issues = issuesOf(oneService('    ports: ["8080:80", "80:http", "1:2:3:4", "70000:80", "80/sctp"]'));
      assert.deepEqual(
        issues.map((i) => i.path),
        [1, 2, 3, 4].map((i) => `services.reader.ports[${i}]`),
      );
      assert.match(issues[0]!.message, /container port 'http' is not a port/);
      assert.match(issues[2]!.message, /published port '70000'/);
      assert.match(issues[3]!.message, /protocol 'sctp' is not supported/);
    });
  });

  describe('volumes and tmpfs', () => {
    it('reads short, long and tmpfs forms', () => {
      const spec = service(
        oneService(
          '    volumes:\n      - data:/var/lib/meters:ro\n      - /dev/serial:/serial\n' +
            '      - {type: volume, source: data, target: /backup, read_only: "true"}\n' +
            '      - {type: bind, source: /etc/meters, target: /etc/meters}\n' +
            '      - {type: tmpfs, target: /cache}\n' +
            '    tmpfs: [/run, "/tmp:size=64m,mode=1777"]',
          'volumes:\n  data: {driver: local}\n',
        ),
      );
      assert.deepEqual(spec.volumes, [
        { type: 'volume', source: 'data', target: '/var/lib/meters', readOnly: true },
        { type: 'bind', source: '/dev/serial', target: '/serial', readOnly: false },
        { type: 'volume', source: 'data', target: '/backup', readOnly: true },
        { type: 'bind', source: '/etc/meters', target: '/etc/meters', readOnly: false },
        { type: 'tmpfs', target: '/cache', readOnly: false },
      ]);
      // The service-level key keeps its own field, with mount options, as compose passes it to the engine.
      assert.deepEqual(spec.tmpfs, { '/run': '', '/tmp': 'size=64m,mode=1777' });
      assert.deepEqual(service(oneService('    tmpfs: /run')).tmpfs, { '/run': '' });
      assertIssue(
        issuesOf(oneService('    tmpfs: [run]')),
        'services.reader.tmpfs[0]',
        /container path 'run' must be absolute/,
      );
    });

    it('refuses an undeclared named volume, naming where it is used', () => {
      assertIssue(
        issuesOf(oneService('    volumes: ["/etc:/etc", "logs:/logs"]')),
        'services.reader.volumes[1]',
        /volume 'logs' is not declared under the top-level volumes/,
      );
    });

    it('refuses relative host paths whose files were not sent with the compose file', () => {
      assertIssue(
        issuesOf(oneService('    volumes: ["./conf:/conf"]')),
        'services.reader.volumes[0]',
        /'\.\/conf' is a file of the project folder, which was not sent with the release: push with `skiff push`/,
      );
    });

    it('takes anonymous volumes, long-syntax options and external volumes', () => {
      const yaml = oneService(
        [
          '    volumes:',
          '      - /anon',
          '      - {type: volume, target: /cache, volume: {nocopy: true}}',
          '      - {type: bind, source: /srv, target: /srv, bind: {propagation: rshared, create_host_path: false}}',
          '      - {type: tmpfs, target: /scratch, tmpfs: {size: 1m, mode: "1777"}}',
          '      - ext:/ext',
        ].join('\n'),
        'volumes:\n  ext:\n    external: true\n    name: shared-data\n',
      );
      const normalized = normalizeCompose(yaml, {});
      assert.deepEqual(normalized.services[0]?.volumes, [
        { type: 'volume', target: '/anon', readOnly: false },
        { type: 'volume', target: '/cache', readOnly: false, noCopy: true },
        {
          type: 'bind',
          source: '/srv',
          target: '/srv',
          readOnly: false,
          propagation: 'rshared',
          requireHostPath: true,
        },
        { type: 'tmpfs', target: '/scratch', readOnly: false, tmpfsSizeBytes: 1024 * 1024, tmpfsMode: 0o1777 },
        { type: 'volume', source: 'ext', target: '/ext', readOnly: false },
      ]);
      assert.deepEqual(normalized.volumeDefinitions, { ext: { external: true, name: 'shared-data' } });
    });

    it('refuses options of another mount type and keys a device cannot honour, saying why', () => {
      const issues = issuesOf(
        oneService(
          '    volumes:\n      - {type: volume, source: d, target: /d, bind: {propagation: shared}}\n' +
            '      - {type: bind, source: /x, target: /x, bind: {selinux: z}}',
          'volumes:\n  d:\n',
        ),
      );
      assertIssue(issues, 'services.reader.volumes[0].bind', /do not apply to a volume mount/);
      assertIssue(issues, 'services.reader.volumes[1].bind.selinux', /without SELinux/);
    });
  });

  describe('networks', () => {
    it('reads the list and map forms with aliases', () => {
      const tail = 'networks:\n  front:\n  back: {driver: bridge}\n';
      assert.deepEqual(service(oneService('    networks: [front, back]', tail)).networks, {
        front: { aliases: [] },
        back: { aliases: [] },
      });
      assert.deepEqual(
        service(oneService('    networks:\n      back:\n        aliases: [db, store]\n      front:', tail)).networks,
        { back: { aliases: ['db', 'store'] }, front: { aliases: [] } },
      );
    });

    it('sets network_mode without networks', () => {
      const spec = service(oneService('    network_mode: host'));
      assert.equal(spec.networkMode, 'host');
      assert.deepEqual(spec.networks, {});
      assert.deepEqual(normalizeCompose(oneService('    network_mode: host'), {}).networks, []);
    });

    it('takes network_mode service:x as a dependency, refuses container:x and ports beside it', () => {
      const yaml = `services:\n  vpn:\n    image: ${IMAGE}\n  reader:\n    image: ${IMAGE}\n    network_mode: "service:vpn"\n`;
      const reader = normalizeCompose(yaml, {}).services.find((s) => s.name === 'reader');
      assert.equal(reader?.networkService, 'vpn');
      assert.deepEqual(reader?.networks, {});
      assert.deepEqual(reader?.dependsOn, { vpn: 'service_started' });
      assertIssue(
        issuesOf(`${yaml}    ports: ["80:80"]\n`),
        'services.reader.ports',
        /network_mode 'service:vpn'.*set it there/,
      );
      assertIssue(
        issuesOf(oneService('    network_mode: "container:abc"')),
        'services.reader.network_mode',
        /'container:abc' names a container outside the release/,
      );
    });

    it('refuses undeclared networks, takes external ones and network options', () => {
      assertIssue(
        issuesOf(oneService('    networks: [front, nowhere]', 'networks:\n  front:\n')),
        'services.reader.networks[1]',
        /network 'nowhere' is not declared/,
      );
      const normalized = normalizeCompose(
        oneService(
          '    networks:\n      lan:\n        ipv4_address: 10.99.0.5\n        priority: 10\n      front:',
          [
            'networks:',
            '  front:',
            '    external: true',
            '  lan:',
            '    internal: true',
            '    driver_opts: {com.docker.network.bridge.name: br-lan}',
            '    labels: [tier=edge]',
            '    ipam:',
            '      config: [{subnet: 10.99.0.0/24, gateway: 10.99.0.1}]',
          ].join('\n'),
        ),
        {},
      );
      assert.deepEqual(normalized.services[0]?.networks, {
        lan: { aliases: [], ipv4Address: '10.99.0.5', priority: 10 },
        front: { aliases: [] },
      });
      assert.deepEqual(normalized.networkDefinitions, {
        front: { external: true },
        lan: {
          internal: true,
          driverOpts: { 'com.docker.network.bridge.name': 'br-lan' },
          labels: { tier: 'edge' },
          ipam: { config: [{ subnet: '10.99.0.0/24', gateway: '10.99.0.1' }] },
        },
      });
      assertIssue(
        issuesOf(oneService('', 'networks:\n  mesh:\n    driver: overlay\n')),
        'networks.mesh.driver',
        /swarm/,
      );
    });
  });

  describe('other fields', () => {
    it('maps restart, privileged, devices, user, hostname, working_dir and stop settings', () => {
      const spec = service(
        oneService(
          [
            '    restart: unless-stopped',
            '    privileged: true',
            '    devices: [/dev/ttyUSB0, "/dev/ttyAMA0:/dev/meter:rw", {source: /dev/i2c-1, target: /dev/i2c}]',
            '    user: "1000:1000"',
            '    hostname: reader-1',
            '    working_dir: /app',
            '    stop_signal: SIGINT',
            '    stop_grace_period: 1m30s',
          ].join('\n'),
        ),
      );
      assert.equal(spec.restart, 'unless-stopped');
      assert.equal(spec.privileged, true);
      assert.deepEqual(spec.devices, [
        '/dev/ttyUSB0:/dev/ttyUSB0',
        '/dev/ttyAMA0:/dev/meter:rw',
        '/dev/i2c-1:/dev/i2c',
      ]);
      assert.equal(spec.user, '1000:1000');
      assert.equal(spec.hostname, 'reader-1');
      assert.equal(spec.workingDir, '/app');
      assert.equal(spec.stopSignal, 'SIGINT');
      assert.equal(spec.stopGracePeriodSeconds, 90);
    });

    it('reads depends_on in list and long form', () => {
      const yaml =
        `services:\n  db:\n    image: ${IMAGE}\n  cache:\n    image: ${IMAGE}\n  reader:\n    image: ${IMAGE}\n` +
        '    depends_on:\n      db: {condition: service_healthy}\n      cache: {condition: service_started, required: true}\n';
      assert.deepEqual(service(yaml).dependsOn, { db: 'service_healthy', cache: 'service_started' });
      const list = `services:\n  db:\n    image: ${IMAGE}\n  reader:\n    image: ${IMAGE}\n    depends_on: [db]\n`;
      assert.deepEqual(service(list).dependsOn, { db: 'service_started' });
    });

    it('refuses unknown dependencies and cycles', () => {
      assertIssue(
        issuesOf(oneService('    depends_on: [ghost]')),
        'services.reader.depends_on[0]',
        /service 'ghost' is not declared/,
      );
      const cycle = `services:\n  a:\n    image: ${IMAGE}\n    depends_on: [b]\n  b:\n    image: ${IMAGE}\n    depends_on: [a]\n`;
      assert.match(issuesOf(cycle)[0]!.message, /dependency cycle: (a -> b -> a|b -> a -> b)/);
    });

    it('converts healthcheck durations to seconds', () => {
      const spec = service(
        oneService(
          '    healthcheck:\n      test: ["CMD", "wget", "-q", "localhost"]\n' +
            '      interval: 1m30s\n      timeout: 500ms\n      start_period: 1h2m3.5s\n      retries: 5',
        ),
      );
      assert.deepEqual(spec.healthcheck, {
        test: ['CMD', 'wget', '-q', 'localhost'],
        intervalSeconds: 90,
        timeoutSeconds: 0.5,
        startPeriodSeconds: 3723.5,
        retries: 5,
      });
      assert.deepEqual(service(oneService('    healthcheck:\n      test: curl -f localhost')).healthcheck, {
        test: ['CMD-SHELL', 'curl -f localhost'],
      });
      assert.deepEqual(service(oneService('    healthcheck:\n      disable: true')).healthcheck, { test: ['NONE'] });
    });

    it('refuses a bad duration and an unknown restart policy', () => {
      const issues = issuesOf(oneService('    restart: sometimes\n    stop_grace_period: 10 seconds'));
      assertIssue(issues, 'services.reader.restart', /'sometimes' is not a restart policy/);
      assertIssue(issues, 'services.reader.stop_grace_period', /'10 seconds' is not a duration/);
    });
  });

  describe('host, security and resource fields', () => {
    it('maps capabilities, security options, init, read_only, dns and extra_hosts', () => {
      const spec = service(
        oneService(
          [
            '    cap_add: [NET_ADMIN, SYS_TIME]',
            '    cap_drop: [MKNOD]',
            '    security_opt: ["no-new-privileges:true", "apparmor=unconfined"]',
            '    init: true',
            '    read_only: "true"',
            '    dns: 1.1.1.1',
            '    extra_hosts: ["broker:10.0.0.5", "v6host=::1", "gw:host-gateway"]',
          ].join('\n'),
        ),
      );
      assert.deepEqual(spec.capAdd, ['NET_ADMIN', 'SYS_TIME']);
      assert.deepEqual(spec.capDrop, ['MKNOD']);
      assert.deepEqual(spec.securityOpt, ['no-new-privileges:true', 'apparmor=unconfined']);
      assert.equal(spec.init, true);
      assert.equal(spec.readOnly, true);
      assert.deepEqual(spec.dns, ['1.1.1.1']);
      assert.deepEqual(spec.extraHosts, ['broker:10.0.0.5', 'v6host:::1', 'gw:host-gateway']);
      const maps = service(
        oneService(
          '    dns: [9.9.9.9, 1.0.0.1]\n    extra_hosts:\n      broker: 10.0.0.5\n      multi: ["10.0.0.6", "[::2]"]',
        ),
      );
      assert.deepEqual(maps.dns, ['9.9.9.9', '1.0.0.1']);
      assert.deepEqual(maps.extraHosts, ['broker:10.0.0.5', 'multi:10.0.0.6', 'multi:::2']);
    });

    it('reads sizes, cpus, sysctls and ulimits in both forms', () => {
      const spec = service(
        oneService(
          [
            '    mem_limit: 64m',
            '    shm_size: 1.5k',
            '    cpus: "0.5"',
            '    sysctls:\n      net.core.somaxconn: 1024\n      net.ipv4.tcp_syncookies: "0"',
            '    ulimits:\n      nproc: 65535\n      nofile: {soft: 1024, hard: 2048}',
          ].join('\n'),
        ),
      );
      assert.equal(spec.memoryBytes, 64 * 1024 * 1024);
      assert.equal(spec.shmSizeBytes, 1536);
      assert.equal(spec.cpus, 0.5);
      assert.deepEqual(spec.sysctls, { 'net.core.somaxconn': '1024', 'net.ipv4.tcp_syncookies': '0' });
      assert.deepEqual(spec.ulimits, [
        { name: 'nproc', soft: 65535, hard: 65535 },
        { name: 'nofile', soft: 1024, hard: 2048 },
      ]);
      const other = service(
        oneService('    mem_limit: 1048576\n    shm_size: 1g\n    cpus: 2\n    sysctls: [net.ipv4.ip_forward=1]'),
      );
      assert.equal(other.memoryBytes, 1048576);
      assert.equal(other.shmSizeBytes, 1024 ** 3);
      assert.equal(other.cpus, 2);
      assert.deepEqual(other.sysctls, { 'net.ipv4.ip_forward': '1' });
    });

    it('reads logging with and without a driver', () => {
      assert.deepEqual(
        service(
          oneService(
            '    logging:\n      driver: json-file\n      options:\n        max-size: 10m\n        max-file: 3',
          ),
        ).logging,
        { driver: 'json-file', options: { 'max-size': '10m', 'max-file': '3' } },
      );
      assert.deepEqual(service(oneService('    logging:\n      options: {max-size: 1m}')).logging, {
        options: { 'max-size': '1m' },
      });
    });

    it('reads on-failure with a retry limit', () => {
      const spec = service(oneService('    restart: on-failure:3'));
      assert.equal(spec.restart, 'on-failure');
      assert.equal(spec.restartMaxRetries, 3);
      assert.equal(service(oneService('    restart: on-failure')).restartMaxRetries, undefined);
    });

    it('names the bad value of each field', () => {
      const issues = issuesOf(
        oneService(
          [
            '    mem_limit: lots',
            '    shm_size: 64x',
            '    cpus: half',
            '    extra_hosts: ["nocolon", "h:not-an-ip"]',
            '    ulimits:\n      nofile: {soft: 4096, hard: 1024}',
            '    sysctls: [net.ipv4.ip_forward]',
            '    init: maybe',
            '    restart: on-failure:x',
          ].join('\n'),
        ),
      );
      assertIssue(issues, 'services.reader.mem_limit', /'lots' is not a size/);
      assertIssue(issues, 'services.reader.shm_size', /'64x' is not a size/);
      assertIssue(issues, 'services.reader.cpus', /'half' is not a number of CPUs/);
      assertIssue(issues, 'services.reader.extra_hosts[0]', /'nocolon' is not HOST:IP/);
      assertIssue(issues, 'services.reader.ulimits.nofile', /soft limit 4096 is above the hard limit 1024/);
      assertIssue(issues, 'services.reader.sysctls[0]', /'net.ipv4.ip_forward' has no value/);
      assertIssue(issues, 'services.reader.init', /'maybe' is not a boolean/);
      assertIssue(issues, 'services.reader.restart', /'on-failure:x' is not a restart policy/);
      const second = issuesOf(oneService('    extra_hosts: ["h:not-an-ip"]'));
      assertIssue(second, 'services.reader.extra_hosts[0]', /'not-an-ip' is not an IP address/);
    });

    it('refuses env_file, which only skiff push can read', () => {
      assertIssue(
        issuesOf(oneService('    env_file: .env.meter')),
        'services.reader.env_file',
        /read by `skiff push`.*push with `skiff push`/,
      );
    });

    it('leaves the fields out when the file does not use them', () => {
      const spec = service(oneService(''));
      for (const key of [
        'tmpfs',
        'capAdd',
        'capDrop',
        'extraHosts',
        'dns',
        'init',
        'shmSizeBytes',
        'readOnly',
        'securityOpt',
        'sysctls',
        'ulimits',
        'memoryBytes',
        'cpus',
        'logging',
        'restartMaxRetries',
      ] as const) {
        assert.equal(key in spec, false, key);
      }
    });
  });

  describe('errors', () => {
    it('names every refused field with its service, line and reason', () => {
      const issues = issuesOf(
        oneService(
          '    deploy:\n      replicas: 2\n    container_name: meter\n    develop: {}',
          'secrets:\n  token:\n    external: true\n',
        ),
      );
      assertIssue(issues, 'services.reader.deploy.replicas', /one per service \(line 5, column 7\)$/);
      assertIssue(issues, 'services.reader.container_name', /names containers itself/);
      assertIssue(issues, 'services.reader.develop', /source tree/);
      assertIssue(issues, 'secrets.token.external', /devices run no swarm/);
    });

    it('ignores x- extension fields', () => {
      const yaml = `x-common: &common\n  restart: always\nservices:\n  reader:\n    <<: *common\n    image: ${IMAGE}\n    x-note: hi\n`;
      assert.equal(service(yaml).restart, 'always');
    });

    it('reports schema violations at the compose path, not per oneOf branch', () => {
      const issues = issuesOf(
        oneService('    ports:\n      - target: 80\n        color: red\n    restart: 3\n    frobnicate: yes'),
      );
      assert.deepEqual(
        issues.map((i) => i.path),
        ['services.reader.ports[0].color', 'services.reader.restart', 'services.reader.frobnicate'],
      );
      assert.match(issues[0]!.message, /not a field of the compose specification/);
      assert.match(issues[1]!.message, /must be string/);
    });

    it('reports YAML syntax errors with line and column', () => {
      const issues = issuesOf('services:\n  reader:\n    image: [unclosed\n  other: 1\n');
      assert.ok(issues.length >= 1);
      assert.match(issues[0]!.path, /^line \d+, column \d+$/);
      assert.match(issues[0]!.message, /^YAML syntax error/);
    });

    it('refuses a file without services', () => {
      assertIssue(issuesOf('services: {}\n'), 'services', /at least one service/);
      assert.ok(issuesOf('just a string\n').length > 0);
    });
  });
});
