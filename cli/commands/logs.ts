// `skiff logs DEVICE`: a device's service logs, fetched from it on demand (protocol/device-logs.ts). Nothing is
// shipped from a device until someone runs this; `--follow` keeps it shipping while the command runs.
import type { Command } from 'commander';
import { DeviceLogsClient, type LogsQuery } from '../device-logs-client.js';
import { formatLines, serviceWidth } from '../views/logs.js';
import { printable, toJson, toJsonLine } from '../views/output.js';
import { clientFor, configFor, type Io } from '../session.js';
import { normalizeApiUrl } from '../config.js';
import { findDevice } from './devices.js';
import { deviceRef, kinds, serviceName, wholeNumber } from '../options/kinds.js';
import { MAX_TAIL, MAX_WAIT_SECONDS } from '../../protocol/device-logs.js';

interface LogsOptions {
  service?: string[];
  tail?: number;
  follow?: boolean;
  wait?: number;
  timestamps?: boolean;
  json?: boolean;
}

export function registerLogs(program: Command, io: Io): void {
  kinds(
    program
      .command('logs <device>')
      .description(
        "show a device's service logs (by uuid, short id, or the start of either), fetched from the device now",
      )
      .option('--service <name>', 'only this service (repeat for several); default every service')
      .option('--tail <n>', `lines per service to start with (default 100, at most ${MAX_TAIL})`)
      .option('-f, --follow', 'keep printing new lines until interrupted')
      .option(
        '--wait <seconds>',
        `how long the API waits for the device to answer (default 15, at most ${MAX_WAIT_SECONDS})`,
      )
      .option('-t, --timestamps', "show the engine's timestamp of each line")
      .option('--json', 'print JSON (with --follow: one JSON object per line)'),
    {
      '<device>': deviceRef,
      '--service': serviceName,
      '--tail': wholeNumber(0, MAX_TAIL),
      '--wait': wholeNumber(1, MAX_WAIT_SECONDS),
    },
  ).action(async (given: string, opts: LogsOptions, cmd: Command) => {
    const device = await findDevice(await clientFor(cmd, io), given);
    const config = await configFor(cmd, io);
    // clientFor succeeded, so the API URL is set.
    const client = new DeviceLogsClient(normalizeApiUrl(config.apiUrl?.value ?? ''), config.apiToken?.value ?? null);
    const query: LogsQuery = {
      ...(opts.service === undefined ? {} : { services: opts.service }),
      ...(opts.tail === undefined ? {} : { tail: String(opts.tail) }),
      ...(opts.wait === undefined ? {} : { wait: String(opts.wait) }),
    };
    const timestamps = opts.timestamps === true;
    if (!opts.follow) {
      const answer = await client.snapshot(device.uuid, query);
      if (opts.json) io.stdout(toJson(answer));
      else io.stdout(formatLines(answer.lines, { width: serviceWidth(answer.services), timestamps }));
      return;
    }
    const stop = new AbortController();
    const interrupted = (): void => stop.abort();
    process.once('SIGINT', interrupted);
    process.once('SIGTERM', interrupted);
    let width = 0;
    try {
      for await (const item of client.follow(device.uuid, query, stop.signal)) {
        if (item.kind === 'gap') {
          const which = item.event.services.length > 0 ? ` of ${item.event.services.join(', ')}` : '';
          const count = item.event.dropped === undefined ? 'some lines' : `${item.event.dropped} lines`;
          io.stderr(`${printable(`(${count}${which} were lost before they could be shown)`)}\n`);
          continue;
        }
        const { lines, services } = item.event;
        if (services !== undefined) width = serviceWidth(services);
        if (opts.json) io.stdout(lines.map(toJsonLine).join(''));
        else
          io.stdout(
            formatLines(lines, { width: Math.max(width, serviceWidth(lines.map((l) => l.service))), timestamps }),
          );
      }
    } finally {
      process.off('SIGINT', interrupted);
      process.off('SIGTERM', interrupted);
    }
    if (!stop.signal.aborted) throw new Error(`the API ended the log stream of device ${device.uuid}`);
  });
}
