// `skiff config list|set|unset --fleet F | --device D`: config vars, injected into every service's environment.
// A device's own value wins over its fleet's; `list --device` shows both and what the device gets.
import type { Command } from 'commander';
import type { ConfigVars } from '../../protocol/fleet-config.js';
import { renderTable, toJson } from '../views/output.js';
import { scopeOf, type ScopeOptions } from '../options/scope.js';
import { clientFor, type Io } from '../session.js';
import { configVarName, configVarValue, deviceRef, fleetName, type Kind, kinds } from '../options/kinds.js';

function withScope(cmd: Command, args: Readonly<Record<string, Kind>> = {}): Command {
  return kinds(
    cmd
      .option('--fleet <name>', 'the config vars of every device of this fleet')
      .option('--device <uuid>', "one device's own config vars (uuid or short id)")
      .option('--json', 'print JSON'),
    { '--fleet': fleetName, '--device': deviceRef, ...args },
  );
}

function varsTable(vars: ConfigVars): string {
  const names = Object.keys(vars).sort();
  return names.length === 0
    ? 'No config vars.\n'
    : renderTable(
        ['NAME', 'VALUE'],
        names.map((n) => [n, vars[n]!]),
      );
}

export function registerConfig(program: Command, io: Io): void {
  const config = program.command('config').description('config vars of a fleet or a device (the device wins)');

  withScope(config.command('list').description('list config vars')).action(async (opts: ScopeOptions, cmd: Command) => {
    const scope = scopeOf(opts);
    const client = await clientFor(cmd, io);
    if ('fleet' in scope) {
      const vars = await client.fleetVars(scope.fleet);
      io.stdout(opts.json ? toJson(vars) : varsTable(vars));
      return;
    }
    const view = await client.deviceConfig(scope.device);
    if (opts.json) {
      io.stdout(
        toJson({
          uuid: view.uuid,
          fleet: view.fleet,
          vars: view.vars,
          fleetVars: view.fleetVars,
          effective: view.effective.env,
        }),
      );
      return;
    }
    const names = Object.keys(view.effective.env).sort();
    io.stdout(
      names.length === 0
        ? 'No config vars.\n'
        : renderTable(
            ['NAME', 'VALUE', 'FROM'],
            names.map((n) => [
              n,
              view.effective.env[n]!,
              n in view.vars ? (n in view.fleetVars ? 'device (overrides fleet)' : 'device') : `fleet ${view.fleet}`,
            ]),
          ),
    );
  });

  withScope(
    config.command('set <name> <value>').description('set a config var (names like env vars; SKIFF_ is reserved)'),
    { '<name>': configVarName, '<value>': configVarValue },
  ).action(async (name: string, value: string, opts: ScopeOptions, cmd: Command) => {
    const scope = scopeOf(opts);
    const client = await clientFor(cmd, io);
    const vars =
      'fleet' in scope
        ? await client.setFleetVar(scope.fleet, name, value)
        : (await client.setDeviceVar(scope.device, name, value)).vars;
    io.stdout(
      opts.json
        ? toJson(vars)
        : `Set ${name} on ${'fleet' in scope ? `fleet ${scope.fleet}` : `device ${scope.device}`}\n`,
    );
  });

  withScope(config.command('unset <name>').description('remove a config var'), { '<name>': configVarName }).action(
    async (name: string, opts: ScopeOptions, cmd: Command) => {
      const scope = scopeOf(opts);
      const client = await clientFor(cmd, io);
      const vars =
        'fleet' in scope
          ? await client.unsetFleetVar(scope.fleet, name)
          : (await client.unsetDeviceVar(scope.device, name)).vars;
      io.stdout(
        opts.json
          ? toJson(vars)
          : `Removed ${name} from ${'fleet' in scope ? `fleet ${scope.fleet}` : `device ${scope.device}`}\n`,
      );
    },
  );
}
