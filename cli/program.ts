// The `skiff` command tree. Global --api/--token are read by every command through session.ts. Every usage error
// commander finds (unknown command or option, missing or extra argument) is rethrown as a UsageError in words, and
// every value is read by its kind (options/kinds.ts), so main.ts prints each failure once, as text or problem+json.
import { Command, CommanderError, type ErrorOptions } from 'commander';
import { registerAudit } from './commands/audit.js';
import { registerConfig } from './commands/config.js';
import { registerDeviceConfig } from './commands/device-config.js';
import { registerDeviceActions } from './commands/device-actions.js';
import { registerDeviceAdmin } from './commands/device-admin.js';
import { registerDeviceLabels } from './commands/device-labels.js';
import { registerDevices } from './commands/devices.js';
import { registerEvents } from './commands/events.js';
import { registerFleets } from './commands/fleets.js';
import { registerKeys } from './commands/keys.js';
import { registerLocal } from './commands/local.js';
import { registerLogin } from './commands/login.js';
import { registerLogs } from './commands/logs.js';
import { registerOs } from './commands/os.js';
import { registerPush } from './commands/push.js';
import { registerReleaseKeys } from './commands/release-keys.js';
import { registerReleases } from './commands/releases.js';
import { registerRemoteAccess } from './commands/remote-access.js';
import { registerRollouts } from './commands/rollouts.js';
import { registerSigningKey } from './commands/signing-key.js';
import { registerTokens } from './commands/tokens.js';
import { registerUsers } from './commands/users.js';
import { registerGroups } from './commands/groups.js';
import { registerLifecycle } from './commands/lifecycle.js';
import { apiToken, apiUrl, article, commandPath, kindOf, kinds, oneOf, UsageError } from './options/kinds.js';
import { completionScript, SHELLS, type Shell } from './completion/scripts.js';
import { completionTree } from './completion/tree.js';
import type { Io } from './session.js';
import { skiffVersion } from '../lib/package-version.js';

function listed(names: string[]): string {
  return names.join(', ');
}

/** commander's usage errors, said with the command they concern and what it takes instead. */
export class SkiffCommand extends Command {
  override createCommand(name?: string): SkiffCommand {
    return new SkiffCommand(name);
  }

  override error(message: string, options?: ErrorOptions): never {
    throw this.usageError(options?.code ?? 'commander.error', message.replace(/^error: /, ''));
  }

  /**
   * `skiff --version` only when it comes first: `push` has a --version of its own, which a program-wide option
   * would take from it.
   */
  override parseOptions(args: string[]): ReturnType<Command['parseOptions']> {
    if (this.parent === null && (args[0] === '--version' || args[0] === '-V') && args.length === 1) {
      const version = skiffVersion();
      this.configureOutput().writeOut?.(`${version}\n`);
      throw new CommanderError(0, 'commander.version', version);
    }
    return super.parseOptions(args);
  }

  private usageError(code: string, message: string): UsageError {
    const path = commandPath(this);
    const subcommands = this.commands.map((c) => c.name());
    switch (code) {
      case 'commander.unknownCommand': {
        const name = /'(.*?)'/.exec(message)?.[1] ?? '';
        const guess = /Did you mean (?:one of )?(.*)\?/.exec(message)?.[1];
        return new UsageError(
          `'${name}' is not a command of \`${path}\`${guess === undefined ? '' : ` (did you mean ${guess}?)`}; ` +
            `use one of ${listed(subcommands)}`,
          name,
          path,
        );
      }
      case 'commander.conflictingOption': {
        const [first, second] = [...message.matchAll(/option '(-[^ ']+)/g)].map((m) => m[1]!);
        return new UsageError(`${first}: cannot be used with ${second}; give one of them`, first ?? null, path);
      }
      case 'commander.unknownOption': {
        const name = /'(.*?)'/.exec(message)?.[1] ?? '';
        const own = this.options.map((o) => o.long ?? o.short ?? o.flags);
        return new UsageError(
          `${message.replace(/\.$/, '')}; \`${path}\` takes ${own.length === 0 ? 'no options' : listed(own)}`,
          name,
          path,
        );
      }
      case 'commander.missingArgument': {
        const name = /'(.*)'/.exec(message)?.[1] ?? '';
        const argument = this.registeredArguments.find((a) => a.name() === name);
        const typed = argument === undefined ? undefined : kindOf(argument);
        const what = typed === undefined ? '' : `; ${typed.kind.allowed || `give ${article(typed.kind.noun)}`}`;
        return new UsageError(`<${name}>: missing (\`${path}\` needs it)${what}`, `<${name}>`, path);
      }
      case 'commander.optionMissingArgument':
      case 'commander.missingMandatoryOptionValue': {
        const flags = /'(.*?)'/.exec(message)?.[1] ?? '';
        const option = this.options.find((o) => o.flags === flags);
        const name = option?.long ?? flags;
        const typed = option === undefined ? undefined : kindOf(option);
        const what = typed === undefined ? '' : `; ${typed.kind.allowed || `give ${article(typed.kind.noun)}`}`;
        const missing = code === 'commander.optionMissingArgument' ? 'needs a value' : `is required by \`${path}\``;
        return new UsageError(`${name}: ${missing}${what}`, name, path);
      }
      case 'commander.excessArguments': {
        const parent = this.parent;
        // Reached as its parent's default (`skiff device X` shows X): the first word was meant as a command.
        const first = parent?.args[0];
        if (parent !== null && first !== undefined && first !== this.name() && !this.aliases().includes(first)) {
          const path = commandPath(parent);
          return new UsageError(
            `'${first}' is not a command of \`${path}\`; use one of ${listed(parent.commands.map((c) => c.name()))} ` +
              `(\`${path} DEVICE\` alone shows one)`,
            first,
            path,
          );
        }
        const takes = this.registeredArguments.map((a) => `<${a.name()}>`).join(' ');
        return new UsageError(
          `too many arguments: \`${path}\` takes ${takes === '' ? 'none' : takes}, not ${listed(this.args.map((a) => `'${a}'`))}`,
          null,
          path,
        );
      }
      default:
        return new UsageError(message, null, path);
    }
  }
}

/** The command whose action runs, for the pointer to its help when the action finds the command line wrong. */
export function runningCommand(program: Command): string | null {
  return running.get(program) ?? null;
}

const running = new WeakMap<Command, string>();

export function buildProgram(io: Io): Command {
  const program = new SkiffCommand('skiff')
    .description('Skiff fleet CLI: push releases, pin fleets, watch devices')
    .option('--api <url>', 'Skiff API base URL (else SKIFF_API_URL, else the saved login)')
    .option('--token <token>', 'API token (else SKIFF_API_TOKEN, else the saved login)')
    .addHelpText('after', '\nRun `skiff --version` for the version; exit codes: see README.md, "Using the CLI".')
    .configureOutput({ writeOut: (text) => io.stdout(text), writeErr: (text) => io.stderr(text) })
    // Errors are thrown to main.ts, which prints them once; commander itself never exits the process.
    .exitOverride();
  kinds(program, { '--api': apiUrl, '--token': apiToken });
  program.hook('preAction', (_program, action) => void running.set(program, commandPath(action)));
  program
    .command('version')
    .description('print the version of skiff')
    .action(() => io.stdout(`${skiffVersion()}\n`));
  program
    .command('completion <shell>')
    .description('print the shell completion script for bash or zsh (source <(skiff completion bash))')
    .action((shell: Shell) => io.stdout(completionScript(shell, completionTree(program))));
  kinds(program.commands.at(-1)!, { '<shell>': oneOf('shell', SHELLS) });
  registerLogin(program, io);
  registerFleets(program, io);
  registerKeys(program, io);
  registerPush(program, io);
  registerLocal(program, io);
  registerReleases(program, io);
  registerRollouts(program, io);
  registerReleaseKeys(program, io);
  registerDevices(program, io);
  registerDeviceAdmin(program, io);
  registerDeviceActions(program, io);
  registerDeviceLabels(program, io);
  registerDeviceConfig(program, io);
  registerLogs(program, io);
  registerEvents(program, io);
  registerConfig(program, io);
  registerUsers(program, io);
  registerTokens(program, io);
  registerSigningKey(program, io);
  registerAudit(program, io);
  registerRemoteAccess(program, io);
  registerOs(program, io);
  registerGroups(program, io);
  registerLifecycle(program, io);
  return program;
}
