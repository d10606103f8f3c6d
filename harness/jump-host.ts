// A private OpenSSH server for the tunnel tests: Debian's sshd with its own config, host key, authorized_keys and
// pid file in a temp dir, listening where a container can reach it (the engine bridge's gateway address). Never
// the system sshd. It plays the fleet's jump host; the tunnel test also runs one as the device's own sshd.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
// sshd re-executes itself for every connection and so refuses to start from a relative path.
const SSHD = '/usr/sbin/sshd';
// The privilege-separation chroot compiled into Debian's sshd; its service unit creates it, and nothing here runs that unit.
const PRIVSEP_DIR = '/run/sshd';
const START_BUDGET_MS = 10_000;

/**
 * `script` copied where sshd runs it as an AuthorizedKeysCommand or AuthorizedPrincipalsCommand: sshd refuses one
 * unless it and every folder above it belong to root and no one else may write them, which a checkout under /tmp
 * (or any user's folder) never is. The copy lives under /run (root's, 0755) in a folder named after its content, so
 * runs side by side share it and a changed script gets a folder of its own. Returns the copy's path.
 */
export function rootOwnedCopy(script: string): string {
  const content = readFileSync(script);
  const dir = path.join('/run', `skiff-commands-${createHash('sha256').update(content).digest('hex').slice(0, 16)}`);
  const file = path.join(dir, path.basename(script));
  if (existsSync(file)) return file;
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  // Written whole and renamed into place: a run beside this one never sees half a script.
  const partial = `${file}.${process.pid}.partial`;
  writeFileSync(partial, content, { mode: 0o755 });
  renameSync(partial, file);
  return file;
}

export interface SshServerOptions {
  /** Names the temp dir and error messages. */
  name: string;
  /** Address to listen on, e.g. the engine bridge's gateway, which containers on that bridge reach. */
  address: string;
  /** authorized_keys lines (options allowed) for the user running the test, the only user let in. */
  authorizedKeys: string[];
  /** Appended to the SSH banner (sshd's VersionAddendum), so a client can tell which server answered. */
  versionAddendum?: string;
  /** More sshd_config lines. */
  config?: string[];
}

/** A free TCP port on `address` (the kernel's choice; another process could take it before it is used). */
export async function freePort(address: string): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, address, resolve);
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** `ssh-keygen`: a new passphrase-less ed25519 key at `file` (and `file.pub`); returns the public key line. */
export async function newKey(file: string, comment: string): Promise<string> {
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file]);
  return readFileSync(`${file}.pub`, 'utf8').trim();
}

/** The SHA256 fingerprint of a public key file, as sshd logs it ("SHA256:..."). */
export async function fingerprint(publicKeyFile: string): Promise<string> {
  const { stdout } = await run('ssh-keygen', ['-l', '-f', publicKeyFile]);
  const found = /SHA256:\S+/.exec(stdout);
  if (!found) throw new Error(`ssh-keygen -l -f ${publicKeyFile} printed no SHA256 fingerprint: ${stdout}`);
  return found[0];
}

/** Processes below `root` in the process tree, read from /proc. sshd's per-connection processes call setsid(),
 * so they leave its process group: killing the group would leave every open session, and its forwards, behind. */
function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited while we looked
    }
    // Fields after the command name, which is in parentheses and may itself hold spaces or parentheses.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
  }
  const found: number[] = [];
  const queue = [root];
  for (let pid = queue.shift(); pid !== undefined; pid = queue.shift()) {
    for (const child of children.get(pid) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

/** True while `pid` exists and is not a zombie (a zombie holds no sockets). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

async function until(what: string, done: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export class SshServer {
  /** The user every server lets in: whoever runs the test (root: the environment needs root anyway). */
  readonly user = userInfo().username;
  private child: ChildProcess | undefined;
  private output = '';

  private constructor(
    readonly name: string,
    readonly dir: string,
    readonly address: string,
    readonly port: number,
    /** "ssh-ed25519 AAAA...": what a client's known_hosts must hold for this server. */
    readonly hostPublicKey: string,
  ) {}

  static async start(options: SshServerOptions): Promise<SshServer> {
    if (!existsSync(SSHD))
      throw new Error(`${SSHD} is missing: apt-get install -y openssh-server (scripts/deps.sh lists it)`);
    mkdirSync(PRIVSEP_DIR, { recursive: true, mode: 0o755 });
    const dir = mkdtempSync(path.join(tmpdir(), `skiff-sshd-${options.name}-`));
    const hostKey = await newKey(path.join(dir, 'host_ed25519'), `skiff-test ${options.name} host key`);
    writeFileSync(path.join(dir, 'authorized_keys'), options.authorizedKeys.map((k) => `${k}\n`).join(''), {
      mode: 0o600,
    });
    const server = new SshServer(
      options.name,
      dir,
      options.address,
      await freePort(options.address),
      hostKey.split(' ').slice(0, 2).join(' '),
    );
    writeFileSync(
      path.join(dir, 'sshd_config'),
      [
        `ListenAddress ${options.address}`,
        `HostKey ${dir}/host_ed25519`,
        `PidFile ${dir}/sshd.pid`,
        `AuthorizedKeysFile ${dir}/authorized_keys`,
        // The files sit in a temp dir under the world-writable /tmp, not in a home directory.
        'StrictModes no',
        `AllowUsers ${server.user}`,
        'PermitRootLogin prohibit-password',
        'PubkeyAuthentication yes',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'UsePAM no',
        'X11Forwarding no',
        'PermitTTY no',
        'LogLevel VERBOSE',
        ...(options.versionAddendum ? [`VersionAddendum ${options.versionAddendum}`] : []),
        ...(options.config ?? []),
        '',
      ].join('\n'),
    );
    await server.launch();
    return server;
  }

  /** True while the listener runs (false after kill() until restart()). */
  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Everything sshd and its sessions wrote (-e: to stderr), across restarts. */
  get log(): string {
    return this.output;
  }

  /** A known_hosts line saying `key` (by default this server's own) belongs to this server as seen at `host`. */
  knownHostsLine(host = this.address, key = this.hostPublicKey): string {
    return `[${host}]:${this.port} ${key}`;
  }

  /** The host going down: SIGKILL to the listener and every session process, so each connection and each
   * remote forward it holds ends, as when the jump host crashes or reboots. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child?.pid || !this.running) return;
    const pids = [child.pid, ...descendants(child.pid)];
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await exited;
    await until(`${this.name} sshd's processes ${pids.join(' ')} to end`, () => !pids.some(alive), 5000);
    this.child = undefined;
  }

  /** sshd again, on the same address, port, host key and authorized keys. */
  async restart(): Promise<void> {
    await this.kill();
    await this.launch();
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async launch(): Promise<void> {
    const logFile = path.join(this.dir, 'sshd.log');
    const child = spawn(SSHD, ['-D', '-e', '-f', path.join(this.dir, 'sshd_config'), '-p', String(this.port)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    const collect = (chunk: Buffer): void => {
      const text = chunk.toString('utf8');
      this.output += text;
      appendFileSync(logFile, text);
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    let failed: Error | undefined;
    child.once('error', (err) => {
      failed = err;
    });
    const listening = `Server listening on ${this.address} port ${this.port}.`;
    const from = this.output.length;
    await until(
      `${this.name} sshd on ${this.address}:${this.port} (log: ${logFile})`,
      () => {
        if (failed || child.exitCode !== null) {
          throw new Error(
            `${this.name} sshd did not start (${failed?.message ?? `exit ${child.exitCode}`}): ${this.output.slice(from).trim()}`,
          );
        }
        return this.output.includes(listening, from);
      },
      START_BUDGET_MS,
    );
  }
}
