// `skiff push DIR --fleet NAME`: build, push and release; progress on stderr, the release on stdout.
import type { Command } from 'commander';
import { toJson } from '../output.js';
import { parseBuildArg } from '../push/compose-build.js';
import { pushRelease } from '../push/push-release.js';
import { clientFor, configFor, type Io } from '../session.js';

interface PushOptions {
  fleet: string;
  version?: string;
  notes?: string;
  dockerHost?: string;
  buildArg?: Record<string, string>;
  json?: boolean;
}

export function registerPush(program: Command, io: Io): void {
  program
    .command('push <dir>')
    .description('build the services of DIR/docker-compose.yml, push them and create a release')
    .requiredOption('--fleet <name>', 'fleet the release is for')
    .option('--version <version>', 'release version (default: chosen by the API)')
    .option('--notes <text>', 'release notes')
    .option('--docker-host <url>', 'engine that builds and pushes (default: DOCKER_HOST)')
    .option('--build-arg <KEY=VALUE>', 'build arg for every service built, over the compose file (repeatable)', parseBuildArg)
    .option('--json', 'print the created release as JSON')
    .action(async (dir: string, opts: PushOptions, cmd: Command) => {
      const release = await pushRelease(
        {
          dir,
          fleet: opts.fleet,
          buildArgs: opts.buildArg ?? {},
          ...(opts.version === undefined ? {} : { version: opts.version }),
          ...(opts.notes === undefined ? {} : { notes: opts.notes }),
          ...(opts.dockerHost === undefined ? {} : { dockerHost: opts.dockerHost }),
        },
        {
          client: await clientFor(cmd, io),
          apiToken: (await configFor(cmd, io)).apiToken?.value ?? null,
          env: io.env,
          now: io.now(),
          progress: (line) => io.stderr(`${line}\n`),
        },
      );
      if (opts.json) {
        io.stdout(toJson(release));
        return;
      }
      io.stdout(`Release ${release.version} (${release.id}) created in fleet ${release.fleet}: ${release.status}\n`);
      for (const [service, image] of Object.entries(release.images)) io.stdout(`  ${service}  ${image}\n`);
    });
}
