// `skiff push DIR --fleet NAME`: build, push and release; progress on stderr, the release on stdout.
// `skiff push --local DEVICE DIR`: the same build and push, then the compose file straight to one device (local mode).
import type { Command } from 'commander';
import { followLocalTarget } from '../local/follow.js';
import { localStateView } from '../views/local.js';
import { printable, toJson } from '../views/output.js';
import { LOCAL_NAMESPACE } from '../push/namespace.js';
import type { FleetLogin } from '../push/push-local.js';
import { clientFor, configFor, type Io } from '../session.js';
import { localClient, withKeyOptions } from './local.js';
import {
  buildArg,
  composeProfile,
  deviceAddress,
  directory,
  dockerHost,
  fleetName,
  kinds,
  registryHost,
  releaseNotes,
  readableFile,
  releaseVersion,
  UsageError,
  wholeNumber,
} from '../options/kinds.js';

interface PushOptions {
  fleet?: string;
  version?: string;
  notes?: string;
  dockerHost?: string;
  buildArg?: Array<[string, string]>;
  profile?: string[];
  json?: boolean;
  local?: string;
  registry?: string;
  key?: string;
  keyFile?: string;
  releaseKey?: string;
  follow: boolean;
  timeout?: number;
  dryRun?: boolean;
  wait?: boolean;
}

const DEFAULT_FOLLOW_TIMEOUT_SECONDS = 600;
const FOLLOW_INTERVAL_MS = 1000;

async function runLocalPush(dir: string, address: string, opts: PushOptions, cmd: Command, io: Io): Promise<void> {
  for (const [flag, value] of [
    ['--version', opts.version],
    ['--notes', opts.notes],
    ['--release-key', opts.releaseKey],
  ] as const) {
    if (value !== undefined)
      throw new UsageError(`${flag}: is for releases; a local push (--local) makes none`, flag, 'skiff push');
  }
  const timeoutMs = (opts.timeout ?? DEFAULT_FOLLOW_TIMEOUT_SECONDS) * 1000;
  const device = await localClient(address, opts, io);
  const config = await configFor(cmd, io);
  const login: FleetLogin | null =
    config.apiUrl !== null && config.apiToken !== null
      ? { client: await clientFor(cmd, io), token: config.apiToken.value }
      : null;
  const progress = (line: string): void => io.stderr(`${line}\n`);
  // Loaded here, not at start: the push modules bring dockerode, which every other command would pay for.
  const { pushLocal } = await import('../push/push-local.js');
  const { answer, before } = await pushLocal(
    {
      dir,
      namespace: opts.fleet ?? LOCAL_NAMESPACE,
      buildArgs: Object.fromEntries(opts.buildArg ?? []),
      ...(opts.registry === undefined ? {} : { registry: opts.registry }),
      ...(opts.dockerHost === undefined ? {} : { dockerHost: opts.dockerHost }),
    },
    { device, login, env: io.env, now: io.now(), progress },
  );
  if (!opts.json)
    // The answer is the device's: its text is shown, never acted on by the terminal.
    io.stdout(
      `${printable(`Device at ${device.baseUrl} took local target ${answer.releaseId}: ${answer.services.join(', ')}`)}\n`,
    );
  if (!opts.follow) {
    if (opts.json) io.stdout(toJson({ ...answer, state: null }));
    return;
  }
  const state = await followLocalTarget(device, {
    releaseId: answer.releaseId,
    staleError: before.report.error,
    timeoutMs,
    intervalMs: FOLLOW_INTERVAL_MS,
    progress,
  });
  io.stdout(opts.json ? toJson({ ...answer, state }) : `\n${localStateView(state)}`);
}

export function registerPush(program: Command, io: Io): void {
  kinds(
    withKeyOptions(
      program
        .command('push <dir>')
        .description(
          'build the services of DIR/docker-compose.yml, push them and create a release; ' +
            'with --local DEVICE, run them on that one device instead (local mode, no release)',
        )
        .option(
          '--fleet <name>',
          'fleet the release is for (with --local: the repository namespace, REGISTRY/NAME/SERVICE, ' +
            `default ${LOCAL_NAMESPACE}; give the device's fleet when pushing to the fleet's registry)`,
        )
        .option('--version <version>', 'release version (default: chosen by the API)')
        .option('--notes <text>', 'release notes')
        .option('--docker-host <url>', 'engine that builds and pushes (default: DOCKER_HOST)')
        .option('--build-arg <KEY=VALUE>', 'build arg for every service built, over the compose file (repeatable)')
        .option('--profile <name>', 'enable a compose profile: its services join the release (repeatable)')
        .option(
          '--local <device>',
          "local mode: send the compose file to the device's local API at HOST[:PORT] (port 48484 by default)",
        )
        .option(
          '--registry <host:port>',
          "with --local: registry for the built images (default: the Skiff API's, with your login)",
        ),
    )
      .option(
        '--no-follow',
        'with --local: return once the device took the compose file, without waiting until it runs it',
      )
      .option(
        '--timeout <seconds>',
        `with --wait or --local: how long to wait for the devices to run it (default ${DEFAULT_FOLLOW_TIMEOUT_SECONDS})`,
      )
      .option('--dry-run', 'validate the compose file and print the normalised release; build, copy and upload nothing')
      .option(
        '--wait',
        'follow the release until every device of the fleet tracking it runs it; exit non-zero if it fails ' +
          'verification or --timeout passes first',
      )
      .option(
        '--release-key <file>',
        'sign the release with this release key (default: the key `skiff release-key create` made, if any)',
      )
      .option('--json', "print the created release (with --local: the device's answer and state) as JSON"),
    {
      '<dir>': directory,
      '--fleet': fleetName,
      '--version': releaseVersion,
      '--notes': releaseNotes,
      '--docker-host': dockerHost,
      '--build-arg': buildArg,
      '--profile': composeProfile,
      '--local': deviceAddress,
      '--registry': registryHost,
      '--timeout': wholeNumber(1, 86_400),
      '--release-key': readableFile,
    },
  ).action(async (dir: string, opts: PushOptions, cmd: Command) => {
    if (opts.local !== undefined) {
      await runLocalPush(dir, opts.local, opts, cmd, io);
      return;
    }
    for (const [flag, value] of [
      ['--registry', opts.registry],
      ['--key', opts.key],
      ['--key-file', opts.keyFile],
    ] as const) {
      if (value !== undefined)
        throw new UsageError(`${flag}: is only for a local push (--local DEVICE)`, flag, 'skiff push');
    }
    if (opts.fleet === undefined)
      throw new UsageError(
        '--fleet: push needs --fleet NAME (or --local DEVICE to run it on one device)',
        '--fleet',
        'skiff push',
      );
    if (opts.dryRun === true && opts.wait === true)
      throw new UsageError('--wait: a dry run (--dry-run) makes no release to wait for', '--wait', 'skiff push');
    if (opts.timeout !== undefined && opts.wait !== true)
      throw new UsageError('--timeout: is for --wait (or --local)', '--timeout', 'skiff push');
    const { pushRelease } = await import('../push/push-release.js');
    const outcome = await pushRelease(
      {
        dir,
        fleet: opts.fleet,
        buildArgs: Object.fromEntries(opts.buildArg ?? []),
        ...(opts.version === undefined ? {} : { version: opts.version }),
        ...(opts.notes === undefined ? {} : { notes: opts.notes }),
        ...(opts.dockerHost === undefined ? {} : { dockerHost: opts.dockerHost }),
        ...(opts.dryRun === true ? { dryRun: true } : {}),
        ...(opts.wait === true ? { waitMs: (opts.timeout ?? DEFAULT_FOLLOW_TIMEOUT_SECONDS) * 1000 } : {}),
        ...(opts.releaseKey === undefined ? {} : { releaseKey: opts.releaseKey }),
        ...(opts.profile === undefined ? {} : { profiles: opts.profile }),
      },
      {
        client: await clientFor(cmd, io),
        apiToken: (await configFor(cmd, io)).apiToken?.value ?? null,
        env: io.env,
        now: io.now(),
        progress: (line) => io.stderr(`${printable(line)}\n`),
      },
    );
    if (outcome.kind === 'dry-run') {
      if (!opts.json) io.stderr('dry run: nothing was built, copied or uploaded; the release would be:\n');
      io.stdout(toJson(outcome.dryRun));
      return;
    }
    const { release, unchanged, wait } = outcome;
    if (opts.json) io.stdout(toJson({ ...release, unchanged, ...(wait === null ? {} : { wait }) }));
    else {
      io.stdout(
        unchanged
          ? `Release ${release.version} (${release.id}) of fleet ${release.fleet} already has this content: no new release (${release.status})\n`
          : `Release ${release.version} (${release.id}) created in fleet ${release.fleet}: ${release.status}\n`,
      );
      for (const [service, image] of Object.entries(release.images)) {
        const source = release.sources?.[service];
        io.stdout(`  ${service}  ${image}${source === undefined ? '' : `  (from ${printable(source)})`}\n`);
      }
      if (wait?.ready === true) io.stdout(`Ready: ${wait.devices.length} device(s) run release ${release.version}\n`);
    }
    // A held release reaches no device: the developer learns it here, not from devices that never update.
    if (release.review?.approval === 'pending') {
      io.stderr(
        `Release ${release.version} waits for an operator's approval before any device gets it ` +
          `(skiff release approve ${release.fleet} ${release.version}):\n`,
      );
      for (const reason of release.review.reasons) io.stderr(`  ${printable(reason)}\n`);
    }
    if (wait !== null && !wait.ready) throw new Error(`--wait: ${wait.reason ?? 'the release is not running'}`);
  });
}
