// `skiff rollout create|show|pause|resume|abort`, `skiff rollouts`, `skiff fleet stop`: a release sent to the devices
// a selector picks, phase by phase, judged by their health; and the fleet's emergency stop. Selectors, phases and
// deadlines are checked here as the API would, so a typo is refused before anything is sent.
import type { Command } from 'commander';
import { ROLLOUT_LIMITS, type PhaseSpec, type Rollout } from '../../protocol/rollouts.js';
import { clientFor, type Io } from '../session.js';
import { fleetName, explained, kinds, releaseRef, selector, text, wholeNumber } from '../options/kinds.js';
import { relativeTime, renderFields, renderTable, toJson } from '../views/output.js';

const phases = explained<PhaseSpec[]>(
  'list of phases',
  `give growing percentages separated by commas, e.g. 1,10,100 (at most ${ROLLOUT_LIMITS.phases})`,
  { good: '1,10,100', bad: '10,1' },
  (raw) => {
    const parts = raw.split(',');
    if (parts.length > ROLLOUT_LIMITS.phases) return `has ${parts.length} phases`;
    const values = parts.map(Number);
    if (parts.some((part) => !/^\d+(\.\d+)?$/.test(part.trim()))) return 'is not a list of numbers';
    if (values.some((v) => v <= 0 || v > 100)) return 'has a percentage outside 0 (exclusive) to 100';
    if (values.some((v, i) => i > 0 && v <= values[i - 1]!)) return 'does not grow from phase to phase';
    return { value: values.map((percent) => ({ percent })) };
  },
);

const percent = explained<number>('percentage', 'give a number from 0 to 100', { good: '95', bad: '120' }, (raw) => {
  const value = Number(raw);
  return /^\d+(\.\d+)?$/.test(raw) && value <= 100 ? { value } : 'is not a percentage from 0 to 100';
});

const UNITS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86_400 };

const deadline = explained<number>(
  'deadline',
  `give seconds or a number with s, m, h or d (e.g. 30m), at most ${ROLLOUT_LIMITS.deadlineSeconds / 86_400} days`,
  { good: '30m', bad: 'soon' },
  (raw) => {
    const match = /^(\d+)([smhd]?)$/.exec(raw);
    if (match === null) return 'is not a duration';
    const seconds = Number(match[1]) * (UNITS[match[2] || 's'] ?? 1);
    return seconds >= 1 && seconds <= ROLLOUT_LIMITS.deadlineSeconds ? { value: seconds } : 'is out of range';
  },
);

const rolloutId = explained<string>(
  'rollout id',
  'give the id as `skiff rollouts` lists it',
  { good: 'a1b2c3d4e5f6', bad: 'a b' },
  (raw) => (/^[A-Za-z0-9-]{1,64}$/.test(raw) ? { value: raw } : 'is not a rollout id'),
);

const note = text('note', 1, ROLLOUT_LIMITS.noteChars);

function phaseText(spec: PhaseSpec): string {
  return 'percent' in spec ? `${spec.percent}%` : spec.selector;
}

export function rolloutsTable(rollouts: Rollout[], now: Date): string {
  return renderTable(
    ['ID', 'RELEASE', 'STATE', 'PHASE', 'HEALTHY', 'FAILED', 'SELECTOR', 'CREATED'],
    rollouts.map((r) => {
      const healthy = r.phases.reduce((sum, p) => sum + p.counts.healthy, 0);
      const devices = r.phases.reduce((sum, p) => sum + p.counts.devices, 0);
      const failed = r.phases.reduce((sum, p) => sum + p.counts.failed, 0);
      return [
        r.id,
        r.releaseVersion,
        r.state,
        `${r.phase + 1}/${r.phases.length}`,
        `${healthy}/${devices}`,
        failed,
        r.selector === '' ? '(all)' : r.selector,
        relativeTime(r.createdAt, now),
      ];
    }),
  );
}

export function rolloutDetail(r: Rollout, now: Date): string {
  const fields = renderFields([
    ['Rollout', r.id],
    ['Fleet', r.fleet],
    ['Release', `${r.releaseVersion} (${r.releaseId})`],
    ['State', r.state],
    ['Reason', r.reason],
    ['Selector', r.selector === '' ? '(all devices)' : r.selector],
    ['Canaries', r.canary],
    ['Success', `${r.successPercent}% healthy to pass a phase`],
    ['Failure', `above ${r.failurePercent}% failed halts it${r.rollbackOnHalt ? ', rolling the phase back' : ''}`],
    ['Deadline', `${r.deadlineSeconds} s per device`],
    ['Rate', r.ratePerMinute === null ? 'all of a phase at once' : `${r.ratePerMinute} devices a minute`],
    ['Left out', r.excluded === 0 ? null : `${r.excluded} pinned devices`],
    ['Created', `${relativeTime(r.createdAt, now)} by ${r.createdBy}`],
  ]);
  const table = renderTable(
    ['PHASE', 'TARGET', 'STATE', 'DEVICES', 'ASSIGNED', 'UPDATED', 'HEALTHY', 'FAILED', 'PENDING', 'ROLLED BACK'],
    r.phases.map((p) => [
      p.index + 1,
      phaseText(p.spec),
      p.state,
      p.counts.devices,
      p.counts.assigned,
      p.counts.updated,
      p.counts.healthy,
      p.counts.failed,
      p.counts.pending,
      p.counts.rolledBack,
    ]),
  );
  return `${fields}\n${table}`;
}

export function registerRollouts(program: Command, io: Io): void {
  const rollout = program.command('rollout').description('send a release to a fleet in phases, judged by its health');

  kinds(
    rollout
      .command('create <fleet> <release>')
      .description('start a rollout: phases of the fleet (canaries first) that pass on the devices health (operator)')
      .option('--filter <selector>', 'which devices of the fleet (default: all), e.g. tag:north,type:raspberrypi4-64')
      .option('--canary <selector>', 'devices taken first (default tag:canary)')
      .option('--phases <list>', 'cumulative percentages of the devices per phase (default 1,10,100)')
      .option('--success <percent>', 'share of a phase healthy for it to pass (default 95)')
      .option('--failure <percent>', 'share of a phase failed above which the rollout halts (default 5)')
      .option('--deadline <duration>', 'how long each device has to run the release healthy (default 30m)')
      .option('--rate <devices>', 'devices per minute at most (default: a phase at once)')
      .option('--rollback', "on halting, send the failing phase's devices back to the release they had")
      .option('--json', 'print JSON'),
    {
      '<fleet>': fleetName,
      '<release>': releaseRef,
      '--filter': selector,
      '--canary': selector,
      '--phases': phases,
      '--success': percent,
      '--failure': percent,
      '--deadline': deadline,
      '--rate': wholeNumber(1, ROLLOUT_LIMITS.ratePerMinute),
    },
  ).action(
    async (
      fleet: string,
      release: string,
      opts: {
        filter?: string;
        canary?: string;
        phases?: PhaseSpec[];
        success?: number;
        failure?: number;
        deadline?: number;
        rate?: number;
        rollback?: boolean;
        json?: boolean;
      },
      cmd: Command,
    ) => {
      const created = await (await clientFor(cmd, io)).createRollout(fleet, {
        release,
        phases: opts.phases ?? [{ percent: 1 }, { percent: 10 }, { percent: 100 }],
        ...(opts.filter === undefined ? {} : { selector: opts.filter }),
        ...(opts.canary === undefined ? {} : { canary: opts.canary }),
        ...(opts.success === undefined ? {} : { successPercent: opts.success }),
        ...(opts.failure === undefined ? {} : { failurePercent: opts.failure }),
        ...(opts.deadline === undefined ? {} : { deadlineSeconds: opts.deadline }),
        ...(opts.rate === undefined ? {} : { ratePerMinute: opts.rate }),
        ...(opts.rollback === true ? { rollbackOnHalt: true } : {}),
      });
      io.stdout(opts.json ? toJson(created) : rolloutDetail(created, io.now()));
    },
  );

  kinds(
    rollout
      .command('show <id>')
      .description('show a rollout with the counts of each phase')
      .option('--json', 'print JSON'),
    { '<id>': rolloutId },
  ).action(async (id: string, opts: { json?: boolean }, cmd: Command) => {
    const found = await (await clientFor(cmd, io)).getRollout(id);
    io.stdout(opts.json ? toJson(found) : rolloutDetail(found, io.now()));
  });

  const actions = {
    pause: 'assign no more devices until resumed; assigned devices keep the release (operator)',
    resume: 'go on with a paused rollout (operator)',
    abort: "end a rollout; the current phase's devices go back to the release they had (operator)",
  } as const;
  for (const [action, description] of Object.entries(actions) as [keyof typeof actions, string][]) {
    kinds(
      rollout
        .command(`${action} <id>`)
        .description(description)
        .option('--note <text>', 'why, for the audit log')
        .option('--json', 'print JSON'),
      { '<id>': rolloutId, '--note': note },
    ).action(async (id: string, opts: { note?: string; json?: boolean }, cmd: Command) => {
      const client = await clientFor(cmd, io);
      const found = await client.getRollout(id);
      const done = await client.rolloutAction(found.fleet, found.id, action, opts.note);
      io.stdout(opts.json ? toJson(done) : `Rollout ${done.id} of fleet ${done.fleet}: ${done.state}\n`);
    });
  }

  kinds(
    program
      .command('rollouts <fleet>')
      .description("list a fleet's rollouts, newest first")
      .option('--json', 'print JSON instead of a table'),
    { '<fleet>': fleetName },
  ).action(async (fleet: string, opts: { json?: boolean }, cmd: Command) => {
    const list = await (await clientFor(cmd, io)).listRollouts(fleet);
    io.stdout(
      opts.json ? toJson(list) : list.length === 0 ? `No rollouts in fleet ${fleet}.\n` : rolloutsTable(list, io.now()),
    );
  });

  // The emergency stop belongs with the fleet's own commands.
  const fleet = program.commands.find((command) => command.name() === 'fleet');
  if (fleet === undefined) throw new Error('`skiff fleet` must be registered before the rollout commands');
  kinds(
    fleet
      .command('stop <fleet>')
      .description('emergency stop: halt every running or paused rollout of the fleet (operator)')
      .option('--note <text>', 'why, for the audit log')
      .option('--json', 'print JSON'),
    { '<fleet>': fleetName, '--note': note },
  ).action(async (name: string, opts: { note?: string; json?: boolean }, cmd: Command) => {
    const stopped = await (await clientFor(cmd, io)).stopFleet(name, opts.note);
    io.stdout(
      opts.json
        ? toJson(stopped)
        : stopped.halted.length === 0
          ? `Fleet ${stopped.fleet}: no rollout was running.\n`
          : `Fleet ${stopped.fleet}: halted ${stopped.halted.join(', ')}\n`,
    );
  });
}
