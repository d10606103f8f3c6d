// The meter fleet's reverse-SSH tunnel against real OpenSSH servers. The tunnel image (built as
// templates.test.ts builds it) runs on the dev engine's default bridge. On the host, private sshds listen on
// that bridge's gateway address: one is the fleet's jump host, the other stands in for the device's own sshd,
// which is what the tunnel exists for: the template's default target is the container's gateway, port 22, i.e.
// the device's sshd. Port 22 on the host is not ours to take, so TUNNEL_TARGET names the gateway with the
// stand-in's port; the default itself is checked from the log.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Type } from '@sinclair/typebox';
import { createLogger } from '../../lib/logger.js';
import { parse } from '../../protocol/validate.js';
import { connectEngine, DockerEngine, type EngineClient } from '../../supervisor/engine/engine.js';
import { buildImage } from '../../harness/engine-build.js';
import { loadTestEnv, repoRoot } from '../../harness/env.js';
import { fingerprint, freePort, newKey, SshServer } from '../../harness/jump-host.js';
import { inspectContainer } from '../../harness/supervisor-device.js';

const run = promisify(execFile);
const tunnelDir = path.join(repoRoot, 'compose-templates', 'meter-fleet', 'tunnel');
const IMAGE = 'skiff-test/tunnel:tunnel-it';
const FORWARD_UP_MS = 20_000;
// After the jump host is back: the tunnel's next attempt comes within TUNNEL_RETRY_MAX_SECONDS (8 here).
const RECONNECT_BUDGET_MS = 30_000;
// The device's sshd runs only this, whatever the technician asks for: a session through the tunnel prints it.
const DEVICE_SESSION_OUTPUT = 'skiff-device-session-ok';
// The jump host's probes of a quiet session. OpenSSH 9.2 probes only after 2 intervals without any activity
// and gives up after COUNT + 1 unanswered: a dead session goes after 2 x 2 x 3 = 12 s here.
const CLIENT_ALIVE_SECONDS = 2;
const CLIENT_ALIVE_COUNT = 2;
const DEAD_SESSION_BUDGET_MS = 2 * CLIENT_ALIVE_SECONDS * (CLIENT_ALIVE_COUNT + 1) * 1000 + 15_000;

const BridgeNetwork = Type.Object({
  IPAM: Type.Object({ Config: Type.Array(Type.Object({ Gateway: Type.Optional(Type.String()) })) }),
});
const ContainerAddress = Type.Object({
  NetworkSettings: Type.Object({ Networks: Type.Object({ bridge: Type.Object({ IPAddress: Type.String() }) }) }),
});

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The first line whatever listens on 127.0.0.1:port sends (an SSH server's banner), or undefined when
 * nothing answers there: refused, closed before a line, or silent for 3 s. */
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

/** True when nothing listens on 127.0.0.1:port. */
function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

/** `text` as a regular expression source that matches exactly it. */
function escaped(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

function count(text: string, pattern: RegExp): number {
  return text.match(new RegExp(pattern.source, 'g'))?.length ?? 0;
}

describe('meter-fleet tunnel against a real jump host', function () {
  this.timeout(120_000);
  let docker: EngineClient;
  let engine: DockerEngine;
  let gateway = '';
  let work = '';
  let tunnelKey = '';
  let tunnelPublic = '';
  let tunnelFingerprint = '';
  let technicianKey = '';
  let jump: SshServer;
  let device: SshServer;
  // Remote ports the jump host lets the tunnel key listen on: one per test, so a test never meets an earlier
  // test's forward.
  const remotePorts: number[] = [];
  const servers: SshServer[] = [];
  const containers: string[] = [];
  const suffix = `${process.pid}-${Date.now().toString(36)}`;
  const deviceBanner = `skiff-device-${suffix}`;

  before(async function () {
    this.timeout(900_000);
    const env = loadTestEnv();
    docker = connectEngine(env.devDockerHost);
    engine = new DockerEngine(docker, createLogger('test-tunnel', { test: 'integration' }));
    await run('bash', [path.join(repoRoot, 'scripts', 'base-images.sh')], {
      env: { ...process.env, DOCKER_HOST: env.devDockerHost },
      timeout: 850_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    await buildImage(docker, tunnelDir, readdirSync(tunnelDir), { tag: IMAGE, buildArgs: { BASE: 'skiff/ssh:base' } });
    const bridge = parse(
      BridgeNetwork,
      await docker.json('GET', '/networks/bridge'),
      "the dev engine's bridge network",
    );
    const found = bridge.IPAM.Config.find((c) => c.Gateway)?.Gateway;
    if (!found) throw new Error(`the dev engine's bridge network (${env.devDockerHost}) has no gateway address`);
    gateway = found;

    work = mkdtempSync(path.join(tmpdir(), 'skiff-tunnel-it-'));
    tunnelKey = path.join(work, 'tunnel_ed25519');
    tunnelPublic = await newKey(tunnelKey, 'skiff-test device tunnel');
    tunnelFingerprint = await fingerprint(`${tunnelKey}.pub`);
    technicianKey = path.join(work, 'technician_ed25519');
    const technicianPublic = await newKey(technicianKey, 'skiff-test technician');
    for (let i = 0; i < 5; i++) remotePorts.push(await freePort('127.0.0.1'));

    device = await SshServer.start({
      name: 'device',
      address: gateway,
      versionAddendum: deviceBanner,
      authorizedKeys: [`restrict ${technicianPublic}`],
      config: ['AllowTcpForwarding no', `ForceCommand echo ${DEVICE_SESSION_OUTPUT}`],
    });
    servers.push(device);
    jump = await startJumpHost('jump');
  });

  after(async () => {
    for (const id of containers.splice(0)) await removeContainer(id);
    for (const server of servers.splice(0)) await server.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  /** A jump host as a fleet would run one: the device key may only hold a remote forward on loopback, on the
   * ports assigned to the device, and dead sessions are noticed (ClientAlive) so their forwards are freed. */
  async function startJumpHost(name: string): Promise<SshServer> {
    const listen = remotePorts.map((p) => `permitlisten="127.0.0.1:${p}"`).join(',');
    const server = await SshServer.start({
      name,
      address: gateway,
      authorizedKeys: [`restrict,port-forwarding,${listen} ${tunnelPublic}`],
      config: [
        'AllowTcpForwarding remote',
        'GatewayPorts no',
        `ClientAliveInterval ${CLIENT_ALIVE_SECONDS}`,
        `ClientAliveCountMax ${CLIENT_ALIVE_COUNT}`,
      ],
    });
    servers.push(server);
    return server;
  }

  async function removeContainer(id: string): Promise<void> {
    await docker.json('DELETE', `/containers/${id}`, { query: { force: 'true', v: 'true' } }).catch(() => undefined);
  }

  /** The tunnel container, with the device's key and `knownHosts` mounted where the template mounts them. */
  async function startTunnel(name: string, server: SshServer, knownHosts: string, env: string[]): Promise<string> {
    const secrets = mkdtempSync(path.join(work, `secrets-${name}-`));
    copyFileSync(tunnelKey, path.join(secrets, 'id_ed25519'));
    writeFileSync(path.join(secrets, 'known_hosts'), `${knownHosts}\n`);
    const id = await engine.createContainer(`skiff-it-tunnel-${name}-${suffix}`, {
      Image: IMAGE,
      Env: [`TUNNEL_HOST=${gateway}`, `TUNNEL_PORT=${server.port}`, `TUNNEL_USER=${server.user}`, ...env],
      HostConfig: { Binds: [`${secrets}:/run/secrets/tunnel:ro`] },
    });
    containers.push(id);
    await engine.startContainer(id);
    return id;
  }

  async function containerIp(id: string): Promise<string> {
    const answer = parse(
      ContainerAddress,
      await docker.json('GET', `/containers/${id}/json`),
      `tunnel container ${id}`,
    );
    return answer.NetworkSettings.Networks.bridge.IPAddress;
  }

  async function logs(id: string): Promise<string> {
    return (await engine.containerLogs(id)).map((l) => `${l.text}\n`).join('');
  }

  async function forwardReachesDevice(port: number): Promise<true | undefined> {
    return (await firstLine(port))?.endsWith(` ${deviceBanner}`) ? true : undefined;
  }

  it("brings up the reverse forward: a technician on the jump host logs in to the device's sshd", async () => {
    const remotePort = remotePorts[0]!;
    const tunnel = await startTunnel('up', jump, jump.knownHostsLine(gateway), [
      `TUNNEL_REMOTE_PORT=${remotePort}`,
      `TUNNEL_TARGET=${gateway}:${device.port}`,
    ]);
    try {
      await until(
        `the forward 127.0.0.1:${remotePort} to answer with the device's banner`,
        () => forwardReachesDevice(remotePort),
        FORWARD_UP_MS,
      );
      const text = await logs(tunnel);
      assert.match(
        text,
        new RegExp(`tunnel ${escaped(gateway)}:${remotePort} -> ${escaped(gateway)}:${device.port} as ${jump.user}`),
      );
      // The jump host let the device in with the device's key...
      assert.match(
        jump.log,
        new RegExp(
          `Accepted publickey for ${jump.user} from \\S+ port \\d+ ssh2: ED25519 ${escaped(tunnelFingerprint)}`,
        ),
      );

      // ...and a technician there gets a session on the device: the device's host key is the one checked,
      // end to end, so the bytes went through the tunnel to the device's sshd, not to something on the way.
      const knownDevice = path.join(work, 'technician_known_hosts');
      writeFileSync(knownDevice, `[127.0.0.1]:${remotePort} ${device.hostPublicKey}\n`);
      const { stdout } = await run(
        'ssh',
        [
          '-p',
          String(remotePort),
          '-i',
          technicianKey,
          '-o',
          'BatchMode=yes',
          '-o',
          'IdentitiesOnly=yes',
          '-o',
          'StrictHostKeyChecking=yes',
          '-o',
          `UserKnownHostsFile=${knownDevice}`,
          '-o',
          'ConnectTimeout=10',
          `${device.user}@127.0.0.1`,
          'whatever',
        ],
        { timeout: 20_000 },
      );
      assert.equal(stdout.trim(), DEVICE_SESSION_OUTPUT);
      // The device's sshd saw that session arrive from the tunnel container, not from the technician's loopback.
      assert.match(
        device.log,
        new RegExp(`Accepted publickey for ${device.user} from ${escaped(await containerIp(tunnel))} port`),
      );
    } finally {
      await removeContainer(tunnel);
    }
  });

  it('refuses a jump host whose host key is not the one the device was given, and says why', async () => {
    // The impostor takes the device's key and would grant the forward: only host key checking stands between.
    const impostor = await startJumpHost('impostor');
    const remotePort = remotePorts[1]!;
    // The device knows the genuine jump host's key, for the address and port the impostor answers on. No
    // TUNNEL_TARGET: the template's default, the device's sshd at the container's gateway.
    const tunnel = await startTunnel('impostor', impostor, impostor.knownHostsLine(gateway, jump.hostPublicKey), [
      `TUNNEL_REMOTE_PORT=${remotePort}`,
    ]);
    try {
      const text = await until(
        "two refusals in the tunnel's log",
        async () => {
          const t = await logs(tunnel);
          return count(t, /Host key verification failed\./) >= 2 ? t : undefined;
        },
        FORWARD_UP_MS,
      );
      assert.match(text, new RegExp(`-> ${escaped(gateway)}:22 as`), "the default target is the gateway's port 22");
      assert.match(text, /WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!/);
      assert.match(text, new RegExp(`Host key for \\[${escaped(gateway)}\\]:${impostor.port} has changed`));
      // The tunnel did reach the impostor (so the refusal is about its key), and never authenticated to it.
      assert.match(impostor.log, /Connection (closed|reset) by \S+ port \d+ \[preauth\]/);
      assert.doesNotMatch(impostor.log, /Accepted publickey/);
      assert.equal(await refused(remotePort), true, 'no forward on the impostor');
      assert.equal(
        (await inspectContainer(docker, tunnel)).State.Running,
        true,
        'still trying: the genuine host may come back',
      );
    } finally {
      await removeContainer(tunnel);
      await impostor.stop();
    }
  });

  it('takes its port back from a forward that a silently dead connection left on the jump host', async () => {
    const remotePort = remotePorts[4]!;
    const env = [
      `TUNNEL_REMOTE_PORT=${remotePort}`,
      `TUNNEL_TARGET=${gateway}:${device.port}`,
      'TUNNEL_RETRY_MAX_SECONDS=8',
    ];
    const known = jump.knownHostsLine(gateway);
    const before = await startTunnel('before-outage', jump, known, env);
    let after = '';
    try {
      await until('the forward', () => forwardReachesDevice(remotePort), FORWARD_UP_MS);
      // The device stops answering without closing anything (power cut, link gone): frozen, its connection stays
      // open on the jump host, and so does the forward it holds. Its successor, the device after a reboot, comes
      // from a new address and asks for the same port.
      await docker.json('POST', `/containers/${before}/pause`);
      after = await startTunnel('after-outage', jump, known, env);
      await until(
        'the successor told the port is taken',
        async () => (/remote port forwarding failed for listen port/.test(await logs(after)) ? true : undefined),
        FORWARD_UP_MS,
      );
      // The jump host's ClientAlive probes end the dead session and free the port. Nothing may touch the forward
      // meanwhile: sshd probes only a session with no activity at all, and a connection to the port is activity.
      const dead = new RegExp(
        `Timeout, client not responding from user \\S+ ${escaped(await containerIp(before))} port \\d+`,
      );
      await until(
        'the jump host to drop the dead session',
        async () => (dead.test(jump.log) ? true : undefined),
        DEAD_SESSION_BUDGET_MS,
      );
      // The successor's retries, which end each attempt that did not get the port, then take it.
      const freed = Date.now();
      await until(
        'the forward back through the successor',
        () => forwardReachesDevice(remotePort),
        RECONNECT_BUDGET_MS,
      );
      console.log(`      forward back ${Date.now() - freed} ms after the jump host freed the port`);
      const lastAccepted = [...jump.log.matchAll(/Accepted publickey for \S+ from (\S+) port/g)].at(-1)?.[1];
      assert.equal(lastAccepted, await containerIp(after), "the forward is the successor's");
    } finally {
      await docker.json('POST', `/containers/${before}/unpause`).catch(() => undefined);
      await removeContainer(before);
      if (after) await removeContainer(after);
    }
  });

  for (const [i, autossh] of [
    [2, true],
    [3, false],
  ] as const) {
    it(`re-establishes the forward on its own after the jump host is killed and restarted (${autossh ? 'autossh' : 'its own retry loop'})`, async () => {
      const remotePort = remotePorts[i]!;
      const tunnel = await startTunnel(autossh ? 'autossh' : 'loop', jump, jump.knownHostsLine(gateway), [
        `TUNNEL_REMOTE_PORT=${remotePort}`,
        `TUNNEL_TARGET=${gateway}:${device.port}`,
        'TUNNEL_RETRY_MAX_SECONDS=8',
        `TUNNEL_USE_AUTOSSH=${autossh ? 'auto' : 'no'}`,
      ]);
      try {
        await until('the forward', () => forwardReachesDevice(remotePort), FORWARD_UP_MS);
        const logged = (await logs(tunnel)).length;
        const sessions = count(jump.log, /Accepted publickey/);

        await jump.kill();
        await until(
          'the forward to go with the jump host',
          async () => ((await refused(remotePort)) ? true : undefined),
          30_000,
        );
        // Attempts while the jump host is down fail; the tunnel keeps trying.
        await until(
          "a failed attempt in the tunnel's log",
          async () => (/Connection refused/.test((await logs(tunnel)).slice(logged)) ? true : undefined),
          20_000,
        );

        const restarted = Date.now();
        await jump.restart();
        await until('the forward back after the restart', () => forwardReachesDevice(remotePort), RECONNECT_BUDGET_MS);
        console.log(`      forward back ${Date.now() - restarted} ms after the jump host restarted`);
        assert.ok(count(jump.log, /Accepted publickey/) > sessions, 'a new session on the restarted jump host');
        assert.equal((await inspectContainer(docker, tunnel)).State.Running, true);
      } finally {
        await removeContainer(tunnel);
        if (!jump.running) await jump.restart();
      }
    });
  }
});
