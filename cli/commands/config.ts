// `skiff config list|set|unset --fleet F | --device D [--service S]`: config vars, injected into every service's
// environment, or (--service) into one service's only (balena's service variables). A device's own value wins over
// its fleet's, and a var scoped to a service over one that is not, at the same level: device service > device >
// fleet service > fleet. `list --device` shows them all and what each service gets.
import type { Command } from 'commander';
import type { ConfigVars, DeviceConfigView } from '../../protocol/fleet-config.js';
import { renderTable, toJson } from '../views/output.js';
import { scopeOf, type ScopeOptions } from '../options/scope.js';
import { clientFor, type Io } from '../session.js';
import { configVarName, configVarValue, deviceRef, fleetName, type Kind, kinds, oneService } from '../options/kinds.js';

type VarOptions = ScopeOptions & { service?: string };

/** "fleet meters", "device 1A2B (service reader)": where a var was set, for the confirmation. */
function placeWords(scope: ReturnType<typeof scopeOf>, service: string | undefined): string {
  const owner = 'fleet' in scope ? `fleet ${scope.fleet}` : `device ${scope.device}`;
  return service === undefined ? owner : `${owner} (service ${service})`;
}

function withScope(cmd: Command, args: Readonly<Record<string, Kind>> = {}): Command {
  return kinds(
    cmd
      .option('--fleet <name>', 'the config vars of every device of this fleet')
      .option('--device <uuid>', "one device's own config vars (uuid or short id)")
      .option('--service <name>', 'the vars of this service only (others do not see them)')
      .option('--json', 'print JSON'),
    { '--fleet': fleetName, '--device': deviceRef, '--service': oneService, ...args },
  );
}

/** The device's own vars a change concerned: of every service, or of the one service. */
function deviceVarsOf(view: DeviceConfigView, service: string | undefined): ConfigVars {
  return service === undefined ? view.vars : (view.serviceVars?.[service] ?? {});
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

  withScope(config.command('list').description('list config vars')).action(async (opts: VarOptions, cmd: Command) => {
    const scope = scopeOf(opts);
    const client = await clientFor(cmd, io);
    if ('fleet' in scope) {
      const vars = await client.fleetVars(scope.fleet, opts.service);
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
          serviceVars: view.serviceVars ?? {},
          fleetServiceVars: view.fleetServiceVars ?? {},
          effective: view.effective.env,
          effectiveByService: view.effective.serviceEnv ?? {},
        }),
      );
      return;
    }
    const from = (name: string): string =>
      name in view.vars ? (name in view.fleetVars ? 'device (overrides fleet)' : 'device') : `fleet ${view.fleet}`;
    const rows = Object.keys(view.effective.env)
      .sort()
      .map((n) => [n, view.effective.env[n]!, from(n), 'every service']);
    for (const [service, vars] of Object.entries(view.effective.serviceEnv ?? {}).sort(([a], [b]) =>
      a < b ? -1 : 1,
    )) {
      for (const name of Object.keys(vars).sort()) {
        const own = view.serviceVars?.[service]?.[name] !== undefined;
        rows.push([
          name,
          vars[name]!,
          own ? 'device, for this service' : `fleet ${view.fleet}, for this service`,
          service,
        ]);
      }
    }
    const shown =
      opts.service === undefined ? rows : rows.filter((r) => r[3] === 'every service' || r[3] === opts.service);
    io.stdout(shown.length === 0 ? 'No config vars.\n' : renderTable(['NAME', 'VALUE', 'FROM', 'SERVICE'], shown));
  });

  withScope(
    config.command('set <name> <value>').description('set a config var (names like env vars; SKIFF_ is reserved)'),
    { '<name>': configVarName, '<value>': configVarValue },
  ).action(async (name: string, value: string, opts: VarOptions, cmd: Command) => {
    const scope = scopeOf(opts);
    const client = await clientFor(cmd, io);
    const vars =
      'fleet' in scope
        ? await client.setFleetVar(scope.fleet, name, value, opts.service)
        : deviceVarsOf(await client.setDeviceVar(scope.device, name, value, opts.service), opts.service);
    io.stdout(opts.json ? toJson(vars) : `Set ${name} on ${placeWords(scope, opts.service)}\n`);
  });

  withScope(config.command('unset <name>').description('remove a config var'), { '<name>': configVarName }).action(
    async (name: string, opts: VarOptions, cmd: Command) => {
      const scope = scopeOf(opts);
      const client = await clientFor(cmd, io);
      const vars =
        'fleet' in scope
          ? await client.unsetFleetVar(scope.fleet, name, opts.service)
          : deviceVarsOf(await client.unsetDeviceVar(scope.device, name, opts.service), opts.service);
      io.stdout(opts.json ? toJson(vars) : `Removed ${name} from ${placeWords(scope, opts.service)}\n`);
    },
  );
}
