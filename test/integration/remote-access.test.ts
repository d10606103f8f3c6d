// The second way in, end to end on real components: registry-api with a jump host configured, a real OpenSSH jump
// host whose AuthorizedKeysCommand and AuthorizedPrincipalsCommand are the shipped scripts/jump-host-keys.sh asking
// that API, two real supervisors (each makes its tunnel key, registers it, and writes the tunnel settings from its
// signed target), the meter fleet's tunnel script (compose-templates/meter-fleet/tunnel/tunnel.sh) run from those
// settings, and per device a private sshd standing in for the device's own, configured as the supervisor's tunnel
// folder says (TrustedUserCAKeys, AuthorizedPrincipalsFile). `skiff ssh` then reaches each device through it all.
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ApiServer } from '../../harness/api-server.js';
import { loadTestEnv, repoRoot } from '../../harness/env.js';
import { freePort, newKey, rootOwnedCopy, SshServer } from '../../harness/jump-host.js';
import { runSkiff, SkiffProcess } from '../../harness/skiff-process.js';
import { cleanDevice, deviceDocker, eventually } from '../../harness/supervisor-device.js';
import { SupervisorProcesses } from '../../harness/supervisor-process.js';
import { DEFAULT_TUNNEL_PORTS } from '../../registry-api/remote-access/settings.js';
import { SshCa } from '../../registry-api/remote-access/ssh-ca.js';
import { TUNNEL_FILES } from '../../supervisor/online/tunnel.js';
import type { SupervisorConfig } from '../../supervisor/config.js';

const run = promisify(execFile);
const env = loadTestEnv();
const docker = deviceDocker(env);
const KEYS_SCRIPT = path.join(repoRoot, 'scripts', 'jump-host-keys.sh');
const TUNNEL_SCRIPT = path.join(repoRoot, 'compose-templates', 'meter-fleet', 'tunnel', 'tunnel.sh');
const JUMP_TOKEN = `jump-host-token-${randomUUID()}`;

/** The first line whatever listens on 127.0.0.1:port sends (an sshd's banner); undefined when nothing answers. */
function firstLine(port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = '';
    const done = (line?: string): void => {
      socket.destroy();
      resolve(line);
    };
    socket.setTimeout(3000, () => done());
    socket.on('data', (chunk: Buffer) => {
      data += chunk.toString('latin1');
      const end = data.indexOf('\n');
      if (end >= 0) done(data.slice(0, end).replace(/\r$/, ''));
    });
    socket.on('error', () => done());
    socket.on('close', () => done());
  });
}

interface Device {
  name: string;
  uuid: string;
  tunnelDir: string;
  sshd: SshServer;
  /** What the device's sshd prints for any session: proves which device a session reached. */
  marker: string;
  tunnel?: ChildProcess;
  tunnelLog: string;
}

function settingsOf(device: Device): Record<string, string> {
  const text = readFileSync(path.join(device.tunnelDir, TUNNEL_FILES.settings), 'utf8');
  return Object.fromEntries(
    text
      .trim()
      .split('\n')
      .map((line) => line.split('=', 2) as [string, string]),
  );
}

// A slice of the default range of its own, so a run beside another (or a port some other program holds) does not
// find its forwards' ports taken.
const TUNNEL_SLICE = 1000;
const TUNNEL_FROM =
  DEFAULT_TUNNEL_PORTS.from +
  TUNNEL_SLICE *
    Math.floor(Math.random() * Math.floor((DEFAULT_TUNNEL_PORTS.to - DEFAULT_TUNNEL_PORTS.from + 1) / TUNNEL_SLICE));
const TUNNEL_PORTS = { from: TUNNEL_FROM, to: TUNNEL_FROM + TUNNEL_SLICE - 1 };

describe('remote access: jump host, per-device ports, SSH certificates (integration)', function () {
  this.timeout(180_000);
  let work = '';
  let api: ApiServer;
  let jump: SshServer;
  let caKeyFile = '';
  const supervisors = new SupervisorProcesses();
  const devices: Device[] = [];
  const servers: SshServer[] = [];

  /** ssh straight to the jump host with `key` (and its certificate beside it), asking to be put through to port. */
  async function throughJumpHost(key: string, port: number): Promise<{ code: number; stdout: string; stderr: string }> {
    const known = path.join(work, 'jump_known_hosts');
    writeFileSync(known, `${jump.knownHostsLine('127.0.0.1')}\n`);
    try {
      const { stdout, stderr } = await run(
        'ssh',
        [
          '-i',
          key,
          '-o',
          'IdentitiesOnly=yes',
          '-o',
          'IdentityAgent=none',
          '-o',
          'BatchMode=yes',
          '-o',
          'StrictHostKeyChecking=yes',
          '-o',
          `UserKnownHostsFile=${known}`,
          '-o',
          'ConnectTimeout=10',
          '-p',
          String(jump.port),
          '-W',
          `127.0.0.1:${port}`,
          `${jump.user}@127.0.0.1`,
        ],
        { timeout: 20_000 },
      );
      return { code: 0, stdout, stderr };
    } catch (err) {
      const failed = err as { code?: number; stdout?: string; stderr?: string };
      return { code: failed.code ?? -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
    }
  }

  async function certificateFor(uuid: string, name: string): Promise<{ key: string; session: string; port: number }> {
    const key = path.join(work, `${name}_ed25519`);
    const publicKey = (await newKey(key, `operator ${name}`)).split(' ').slice(0, 2).join(' ');
    const answer = await api.admin.issueSshCertificate(uuid, { publicKey, purpose: 'ssh' });
    writeFileSync(`${key}-cert.pub`, `${answer.certificate}\n`);
    return { key, session: answer.session, port: answer.remotePort };
  }

  function startTunnel(device: Device): void {
    const scratch = mkdtempSync(path.join(work, `tunnel-${device.name}-`));
    const child = spawn('sh', [TUNNEL_SCRIPT], {
      env: {
        PATH: process.env.PATH ?? '',
        TMPDIR: scratch,
        TUNNEL_SETTINGS: path.join(device.tunnelDir, TUNNEL_FILES.settings),
        TUNNEL_KEY_FILE: path.join(device.tunnelDir, TUNNEL_FILES.key),
        TUNNEL_KNOWN_HOSTS: path.join(device.tunnelDir, TUNNEL_FILES.knownHosts),
        // On a device the target is its gateway's port 22; here, the stand-in sshd.
        TUNNEL_TARGET: `127.0.0.1:${device.sshd.port}`,
        TUNNEL_USE_AUTOSSH: 'no',
        TUNNEL_RETRY_MAX_SECONDS: '4',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const collect = (chunk: Buffer): void => {
      device.tunnelLog += chunk.toString('utf8');
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    device.tunnel = child;
  }

  before(async function () {
    this.timeout(300_000);
    // Not under /tmp for what sshd checks (its key command must sit in root-owned folders: it is the repo's);
    // the rest may, as the harness's own sshds do.
    work = mkdtempSync(path.join(tmpdir(), 'skiff-remote-access-'));
    caKeyFile = path.join(work, 'ssh-ca-key');
    const ca = await SshCa.open(caKeyFile);
    const caPublic = path.join(work, 'ssh-ca.pub');
    writeFileSync(caPublic, `${ca.publicKey}\n`);
    const conf = path.join(work, 'jump-host.conf');
    // The shipped script, as a jump host runs it: from a folder only root may write (see rootOwnedCopy).
    const keysCommand = rootOwnedCopy(KEYS_SCRIPT);
    jump = await SshServer.start({
      name: 'jump',
      address: '127.0.0.1',
      authorizedKeys: [],
      config: [
        // In this order: OpenSSH 9.2 takes no AuthorizedPrincipalsCommand after an AuthorizedKeysCommand (sshd -T
        // shows it as none), and would then check certificates against the login name.
        `TrustedUserCAKeys ${caPublic}`,
        `AuthorizedPrincipalsCommand ${keysCommand} ${conf} principals %u %i`,
        `AuthorizedPrincipalsCommandUser ${userNameForCommands()}`,
        `AuthorizedKeysCommand ${keysCommand} ${conf} keys %u %t %k`,
        `AuthorizedKeysCommandUser ${userNameForCommands()}`,
        'AllowTcpForwarding yes',
        'GatewayPorts no',
        'ClientAliveInterval 5',
        'ClientAliveCountMax 2',
      ],
    });
    servers.push(jump);
    api = await ApiServer.start({
      redisUrl: null,
      remoteAccess: {
        jumpHost: { host: '127.0.0.1', port: jump.port, user: jump.user, hostKey: jump.hostPublicKey },
        ports: TUNNEL_PORTS,
        jumpHostToken: JUMP_TOKEN,
        caKeyFile,
        certificateMinutes: 5,
      },
    });
    writeFileSync(conf, `SKIFF_API_URL=${api.url}\nSKIFF_JUMP_HOST_TOKEN=${JUMP_TOKEN}\n`, { mode: 0o600 });
    await cleanDevice(docker);
    const fleet = await api.createFleet('remote-access');

    for (const name of ['a', 'b']) {
      const uuid = randomUUID();
      const tunnelDir = path.join(work, `device-${name}-tunnel`);
      mkdirSync(tunnelDir, { recursive: true });
      const marker = `skiff-device-${name}-${uuid.slice(0, 8)}`;
      const sshd = await SshServer.start({
        name: `device-${name}`,
        address: '127.0.0.1',
        versionAddendum: marker,
        authorizedKeys: [],
        // What the supervisor's tunnel folder is for: the API's CA, for this device's principal only.
        config: [
          `TrustedUserCAKeys ${path.join(tunnelDir, TUNNEL_FILES.caKeys)}`,
          `AuthorizedPrincipalsFile ${path.join(tunnelDir, TUNNEL_FILES.principals)}`,
          `ForceCommand echo ${marker}`,
        ],
      });
      servers.push(sshd);
      const config: SupervisorConfig = {
        apiUrl: api.url,
        fleet: fleet.name,
        provisioningKey: fleet.provisioningKey,
        deviceType: fleet.deviceType,
        uuid,
        name: `remote-${name}`,
        dockerHost: env.deviceDockerHost,
        localApiPort: 0,
        tunnelDir,
      };
      supervisors.start(await supervisors.dataDir(config), { SKIFF_POLL_INTERVAL_MS: '500' });
      devices.push({ name, uuid, tunnelDir, sshd, marker, tunnelLog: '' });
    }
    for (const device of devices) {
      await eventually(`device ${device.name}'s tunnel settings from its target`, 60_000, async () =>
        existsSync(path.join(device.tunnelDir, TUNNEL_FILES.settings)) ? true : undefined,
      );
      startTunnel(device);
    }
    try {
      for (const device of devices) {
        const port = Number(settingsOf(device).TUNNEL_REMOTE_PORT);
        await eventually(`device ${device.name}'s forward on the jump host`, 120_000, async () =>
          (await firstLine(port))?.endsWith(` ${device.marker}`) ? true : undefined,
        );
      }
    } catch (err) {
      // A hook's failure runs no afterEach: say here what the jump host and the tunnels saw.
      printLogs();
      throw err;
    }
  });

  after(async () => {
    for (const device of devices) device.tunnel?.kill('SIGTERM');
    await supervisors.stopAll(undefined);
    for (const server of servers.splice(0)) await server.stop();
    await api?.stop();
    await cleanDevice(docker).catch(() => undefined);
    await supervisors.removeDataDirs();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  function printLogs(): void {
    console.error(`--- jump host log ---\n${jump?.log ?? ''}`);
    for (const device of devices) console.error(`--- tunnel ${device.name} ---\n${device.tunnelLog}`);
  }

  afterEach(function () {
    if (this.currentTest?.state === 'failed') printLogs();
  });

  it('gives two devices distinct ports from the range, with no config var on either', async () => {
    const [a, b] = devices.map(settingsOf);
    assert.ok(a !== undefined && b !== undefined);
    assert.notEqual(a.TUNNEL_REMOTE_PORT, b.TUNNEL_REMOTE_PORT);
    for (const settings of [a, b]) {
      const port = Number(settings.TUNNEL_REMOTE_PORT);
      assert.ok(port >= TUNNEL_PORTS.from && port <= TUNNEL_PORTS.to, `port ${port} in the range`);
      assert.equal(settings.TUNNEL_HOST, '127.0.0.1');
      assert.equal(settings.TUNNEL_PORT, String(jump.port));
    }
    // The device's key is its own, made on the device: the jump host saw each tunnel log in with it.
    assert.equal(
      (jump.log.match(/Accepted publickey for \S+ from \S+ port \d+ ssh2: ED25519 /g) ?? []).length >= 2,
      true,
    );
    for (const device of devices) {
      const config = (await api.admin.deviceConfig(device.uuid)).effective.env;
      assert.deepEqual(config, {}, 'no config var was set');
    }
  });

  it("`skiff ssh` reaches each device's sshd through the jump host with a certificate, and audits the session", async () => {
    for (const device of devices) {
      const result = await runSkiff(api, 'ssh', device.uuid, '--', 'uptime');
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout.trim(), device.marker, `the session reached device ${device.name}`);
      assert.match(result.stderr, /session \S+ ended after \d+ s \(ssh exit 0\)/);
      assert.match(device.sshd.log, /Accepted certificate ID "[0-9a-f-]{36}" \(serial \d+\) signed by ED25519 CA/);
      const audit = await api.admin.listAudit({ device: device.uuid });
      const start = audit.find((e) => e.action === 'device.ssh.start');
      const end = audit.find((e) => e.action === 'device.ssh.end');
      assert.ok(start && end, `start and end in ${JSON.stringify(audit.map((e) => e.action))}`);
      assert.equal(start.actor, 'admin');
      assert.equal(end.detail.session, start.detail.session);
      assert.equal(typeof end.detail.durationSeconds, 'number');
      assert.equal(end.detail.exitCode, 0);
    }
  });

  it('`skiff tunnel` forwards a local port to a port on the device until interrupted, and audits it', async () => {
    const a = devices[0];
    assert.ok(a);
    const local = await freePort('127.0.0.1');
    // The device's own sshd port, as the device sees it: what answers is device a's sshd.
    const tunnel = new SkiffProcess(api, ['tunnel', a.uuid, `${local}:${a.sshd.port}`]);
    try {
      await eventually('the local end of the tunnel to reach device a', 60_000, async () =>
        (await firstLine(local))?.endsWith(` ${a.marker}`) ? true : undefined,
      );
    } finally {
      await tunnel.stop('SIGTERM');
    }
    assert.match(tunnel.stderr, /session \S+ ended after \d+ s \(interrupted\)/);
    const audit = await api.admin.listAudit({ device: a.uuid });
    const start = audit.find((e) => e.action === 'device.ssh.start' && e.detail.purpose === 'tunnel');
    assert.ok(start, 'the tunnel session started in the audit log');
    assert.equal(start.detail.forward, `${local}:${a.sshd.port}`);
    const end = audit.find((e) => e.action === 'device.ssh.end' && e.detail.session === start.detail.session);
    assert.ok(end, 'and ended');
    assert.equal(end.detail.exitCode, null);
  });

  it("refuses an expired certificate and a certificate for another device's port", async () => {
    const [a, b] = devices;
    assert.ok(a && b);
    const valid = await certificateFor(a.uuid, 'operator-a');
    const bPort = Number(settingsOf(b).TUNNEL_REMOTE_PORT);
    // The same certificate reaches its own device's port...
    const own = await throughJumpHost(valid.key, valid.port);
    assert.match(own.stdout, new RegExp(`^SSH-2\\.0-.* ${a.marker}`), own.stderr);
    // ...but not another device's.
    const other = await throughJumpHost(valid.key, bPort);
    assert.match(other.stderr, /administratively prohibited/);
    assert.doesNotMatch(other.stdout, new RegExp(b.marker));

    // Signed by the very CA, for a live session of device a, but expired.
    const expiredKey = path.join(work, 'expired_ed25519');
    await newKey(expiredKey, 'expired operator');
    await run('ssh-keygen', [
      '-q',
      '-s',
      caKeyFile,
      '-I',
      valid.session,
      '-n',
      `skiff-device-${a.uuid}`,
      '-V',
      '-30m:-20m',
      `${expiredKey}.pub`,
    ]);
    const expired = await throughJumpHost(expiredKey, valid.port);
    assert.notEqual(expired.code, 0);
    assert.match(expired.stderr, /Permission denied/);
    assert.doesNotMatch(expired.stdout, new RegExp(a.marker));
    assert.match(jump.log, /expired/i);
  });

  it("refuses a revoked device: its tunnel key, its operators' certificates, and frees its port", async () => {
    const b = devices[1];
    assert.ok(b);
    const before = await certificateFor(b.uuid, 'operator-b');
    assert.match((await throughJumpHost(before.key, before.port)).stdout, new RegExp(b.marker));
    await api.admin.revokeDevice(b.uuid);

    // A certificate issued before the revocation no longer gets through the jump host...
    const late = await throughJumpHost(before.key, before.port);
    assert.notEqual(late.code, 0);
    assert.match(late.stderr, /Permission denied/);
    // ...no new one is issued...
    const refused = await runSkiff(api, 'ssh', b.uuid, '--', 'uptime');
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /revoked/);
    // ...the device's own tunnel key is refused when it connects again...
    const deviceKey = path.join(b.tunnelDir, TUNNEL_FILES.key);
    const tunnelAgain = await run(
      'ssh',
      [
        '-i',
        deviceKey,
        '-o',
        'IdentitiesOnly=yes',
        '-o',
        'BatchMode=yes',
        '-o',
        `UserKnownHostsFile=${path.join(b.tunnelDir, TUNNEL_FILES.knownHosts)}`,
        '-o',
        'StrictHostKeyChecking=yes',
        '-p',
        String(jump.port),
        '-N',
        '-o',
        'ExitOnForwardFailure=yes',
        '-R',
        `127.0.0.1:${before.port}:127.0.0.1:${b.sshd.port}`,
        `${jump.user}@127.0.0.1`,
      ],
      { timeout: 20_000 },
    ).then(
      () => ({ stderr: '' }),
      (err: { stderr?: string }) => ({ stderr: err.stderr ?? '' }),
    );
    assert.match(tunnelAgain.stderr, /Permission denied/);
    // ...and its port is free for another device.
    await eventually("the revoked device's port to be freed", 30_000, async () =>
      (await api.store.tunnels.of(b.uuid)) === null ? true : undefined,
    );
    const audit = await api.admin.listAudit({ device: b.uuid });
    assert.ok(audit.some((e) => e.action === 'device.tunnel-freed' && e.detail.port === before.port));
  });
});

/** Who runs the jump host's key commands: the user the test runs as (root; the harness's sshds run as it too). */
function userNameForCommands(): string {
  return process.env.USER && process.env.USER !== '' ? process.env.USER : 'root';
}
