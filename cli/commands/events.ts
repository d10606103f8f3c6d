// A fleet you can read from the terminal: `skiff fleet status FLEET`, `skiff events` (the fleet events stream),
// `skiff device metrics DEVICE`, and `skiff webhook add|list|remove|deliveries`.
import type { Command } from 'commander';
import { FLEET_EVENT_KINDS, FleetEventSchema, type FleetEventKind } from '../../protocol/fleet-events.js';
import { EVENT_ROUTES, FLEET_EVENT, RESET_EVENT } from '../../protocol/http/events.js';
import { parse } from '../../protocol/validate.js';
import { fetchFailureReason } from '../../lib/errors.js';
import { sseEventsOf } from '../../lib/sse.js';
import { ApiAnswerError, ApiUnreachableError } from '../api-client.js';
import { clientFor, type Io } from '../session.js';
import { deviceRef, fleetName, kinds, many, oneOf, recordId, wholeNumber, type Kind } from '../options/kinds.js';
import { printable, renderTable, toJson, toJsonLine } from '../views/output.js';
import { deviceId } from '../views/api-objects.js';
import { findDevice } from './devices.js';
import type { FleetStatus } from '../../protocol/fleet-status.js';
import type { DeviceMetricsHistory } from '../../protocol/device-metrics.js';

interface JsonOption {
  json?: boolean;
}

/** The API sends a heartbeat every 15 s: this long without a byte means a dead connection. */
const STREAM_SILENCE_MS = 60_000;

function commandNamed(program: Command, name: string, description: string): Command {
  return program.commands.find((c) => c.name() === name) ?? program.command(name).description(description);
}

function countsText(title: string, counts: Record<string, number>): string {
  const entries = Object.entries(counts).sort(([, a], [, b]) => b - a);
  return `${title}: ${entries.length === 0 ? '-' : entries.map(([k, n]) => `${printable(k)} ${n}`).join(', ')}\n`;
}

export function fleetStatusText(status: FleetStatus): string {
  let out = `Fleet ${printable(status.fleet)}: ${status.devices} devices, ${status.online} online, ${status.offline} offline\n`;
  out += countsText('Releases', status.byRelease);
  out += countsText('Updates', status.byUpdateStatus);
  out += countsText('Health', status.byHealth);
  if (status.deviceList.length === 0) return out;
  out += `\n${renderTable(
    ['ID', 'NAME', 'ONLINE', 'TARGET', 'RUNNING', 'UPDATE', 'HEALTH', 'ACTIVITY'],
    status.deviceList.map((d) => [
      deviceId(d),
      printable(d.name),
      d.online ? 'yes' : 'no',
      d.targetRelease,
      printable(d.running),
      d.updateStatus,
      d.health,
      printable(d.activity),
    ]),
  )}`;
  if (status.more > 0) out += `... and ${status.more} more (--limit, or --json)\n`;
  return out;
}

function bytes(n: number): string {
  return n >= 1024 ** 3 ? `${(n / 1024 ** 3).toFixed(1)}G` : `${Math.round(n / 1024 ** 2)}M`;
}

export function metricsText(history: DeviceMetricsHistory): string {
  if (history.points.length === 0)
    return `No metrics of the device between ${history.from} and ${history.to} (${history.resolution}).\n`;
  const raw = history.resolution === 'raw';
  return renderTable(
    raw
      ? ['TIME', 'CPU %', 'MEMORY', 'TEMP °C', 'DISK']
      : ['BUCKET (15 min)', 'CPU % avg/max', 'MEMORY avg/max', 'TEMP °C avg/max', 'DISK max'],
    history.points.map((p) => {
      const temp = p.temperatureCelsius;
      return raw
        ? [
            p.at,
            p.cpuPercent.avg.toFixed(1),
            `${bytes(p.memoryUsedBytes.avg)}/${bytes(p.memoryTotalBytes)}`,
            temp === null ? null : temp.avg.toFixed(1),
            `${bytes(p.diskUsedBytes.avg)}/${bytes(p.diskTotalBytes)}`,
          ]
        : [
            p.at,
            `${p.cpuPercent.avg.toFixed(1)}/${p.cpuPercent.max.toFixed(1)}`,
            `${bytes(p.memoryUsedBytes.avg)}/${bytes(p.memoryUsedBytes.max)}`,
            temp === null ? null : `${temp.avg.toFixed(1)}/${temp.max.toFixed(1)}`,
            `${bytes(p.diskUsedBytes.max)}/${bytes(p.diskTotalBytes)}`,
          ];
    }),
  );
}

const RELATIVE = /^([0-9]{1,4})([mhd])$/;
const isTime = (raw: string): boolean => /^[0-9]{4}-[0-9]{2}-[0-9]{2}/.test(raw) && !Number.isNaN(Date.parse(raw));

const webhookUrl: Kind<string> = {
  noun: 'webhook URL',
  allowed: 'give an http:// or https:// URL without user or password',
  example: { good: 'https://hooks.example.com/skiff', bad: 'ftp://hooks.example.com' },
  read(raw) {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      return { ok: false, why: 'is not a URL' };
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      return { ok: false, why: `has the scheme ${url.protocol}` };
    if (url.username !== '' || url.password !== '') return { ok: false, why: 'carries a user or password' };
    return raw.length > 2048 ? { ok: false, why: 'is longer than 2048 characters' } : { ok: true, value: raw };
  },
};

const since: Kind<string> = {
  noun: 'time',
  allowed: 'give how far back (30m, 6h, 7d) or an ISO-8601 time (2026-01-31T12:00:00Z)',
  example: { good: '6h', bad: 'yesterday' },
  read: (raw) => (RELATIVE.test(raw) || isTime(raw) ? { ok: true, value: raw } : { ok: false, why: 'is no time' }),
};

const until: Kind<string> = {
  noun: 'time',
  allowed: 'give an ISO-8601 time (2026-01-31T12:00:00Z)',
  example: { good: '2026-01-31T12:00:00Z', bad: 'tomorrow' },
  read: (raw) => (isTime(raw) ? { ok: true, value: raw } : { ok: false, why: 'is no ISO-8601 time' }),
};

/** "1h", "30m", "7d" back from now, or an ISO-8601 time. */
function sinceOf(given: string, now: Date): string {
  const relative = RELATIVE.exec(given);
  if (relative === null) return given;
  const unit = { m: 60_000, h: 3_600_000, d: 86_400_000 }[relative[2] as 'm' | 'h' | 'd'];
  return new Date(now.getTime() - Number(relative[1]) * unit).toISOString();
}

export function registerEvents(program: Command, io: Io): void {
  const fleet = commandNamed(program, 'fleet', 'create, show or change one fleet');
  kinds(
    fleet
      .command('status <fleet>')
      .description(
        'the fleet at a glance: devices by release, update status, online and health, and what each is doing',
      )
      .option('--limit <n>', 'devices listed (default 50, at most 1000)')
      .option('--json', 'print JSON'),
    { '<fleet>': fleetName, '--limit': wholeNumber(0, 1000) },
  ).action(async (name: string, opts: JsonOption & { limit?: number }, cmd: Command) => {
    const status = await (await clientFor(cmd, io)).fleetStatus(name, opts.limit);
    io.stdout(opts.json ? toJson(status) : fleetStatusText(status));
  });

  const device = commandNamed(program, 'device', 'show or manage one device');
  kinds(
    device
      .command('metrics <device>')
      .description("a device's CPU, memory, temperature and disk over time (the last hour at full resolution)")
      .option('--since <when>', 'how far back: 30m, 6h, 7d (at most 30d) or an ISO-8601 time; default 1h')
      .option('--until <when>', 'an ISO-8601 time; default now')
      .option('--json', 'print JSON'),
    { '<device>': deviceRef, '--since': since, '--until': until },
  ).action(async (given: string, opts: JsonOption & { since?: string; until?: string }, cmd: Command) => {
    const client = await clientFor(cmd, io);
    const found = await findDevice(client, given);
    const history = await client.deviceMetrics(found.uuid, {
      ...(opts.since === undefined ? {} : { from: sinceOf(opts.since, io.now()) }),
      ...(opts.until === undefined ? {} : { to: opts.until }),
    });
    io.stdout(opts.json ? toJson(history) : metricsText(history));
  });

  kinds(
    program
      .command('events')
      .description('follow fleet events as they happen (device online/offline, updates, rollbacks, releases, rollouts)')
      .option('--fleet <fleet>', "one fleet's events; default every fleet you may read")
      .option('--json', 'print one JSON object per line'),
    { '--fleet': fleetName },
  ).action(async (opts: JsonOption & { fleet?: string }, cmd: Command) => {
    const client = await clientFor(cmd, io);
    const connection = new AbortController();
    const hangUp = (): void => connection.abort();
    process.once('SIGINT', hangUp);
    const query = new URLSearchParams(opts.fleet === undefined ? {} : { fleet: opts.fleet });
    const { request, response } = await client.open(EVENT_ROUTES.fleetEvents, {}, { query, signal: connection.signal });
    if (response.body === null) throw new ApiAnswerError(request, 'the events stream has no body');
    const silent = (): void => connection.abort(new Error(`no byte from the API for ${STREAM_SILENCE_MS / 1000} s`));
    try {
      for await (const event of sseEventsOf(response.body, STREAM_SILENCE_MS, silent)) {
        if (event.event === RESET_EVENT) {
          io.stderr('events were missed: re-read what you need (skiff fleet status)\n');
        } else if (event.event === FLEET_EVENT) {
          const fleetEvent = parse(FleetEventSchema, JSON.parse(event.data), `a '${FLEET_EVENT}' event of ${request}`);
          io.stdout(
            opts.json
              ? toJsonLine(fleetEvent)
              : `${fleetEvent.at}  ${printable(fleetEvent.fleet)}  ${fleetEvent.kind}  ${printable(fleetEvent.summary)}\n`,
          );
        }
      }
    } catch (err) {
      if (connection.signal.aborted && connection.signal.reason instanceof Error)
        throw new ApiUnreachableError(response.url, connection.signal.reason.message);
      if (!connection.signal.aborted) throw new ApiUnreachableError(response.url, fetchFailureReason(err));
    } finally {
      process.off('SIGINT', hangUp);
      connection.abort();
    }
  });

  const webhook = program.command('webhook').description('send fleet events to a URL, signed (admins)');
  kinds(
    webhook
      .command('add <url>')
      .description(
        'register a URL that fleet events are POSTed to, signed with a secret shown once (Skiff-Signature: t=...,v1=HMAC-SHA256 of "t.body")',
      )
      .option('--fleet <fleet>', "only this fleet's events; default every fleet's")
      .option('--kind <kind>', 'only events of this kind (repeat for several); default every kind')
      .option('--json', 'print JSON'),
    { '<url>': webhookUrl, '--fleet': fleetName, '--kind': many(oneOf('event kind', FLEET_EVENT_KINDS)) },
  ).action(async (url: string, opts: JsonOption & { fleet?: string; kind?: FleetEventKind[] }, cmd: Command) => {
    const created = await (await clientFor(cmd, io)).createWebhook({
      url,
      ...(opts.fleet === undefined ? {} : { fleet: opts.fleet }),
      ...(opts.kind === undefined ? {} : { kinds: [...new Set(opts.kind)] }),
    });
    io.stdout(
      opts.json
        ? toJson(created)
        : `Webhook ${created.id} sends ${created.kinds.length === 0 ? 'every event' : created.kinds.join(', ')} of ${created.fleet === null ? 'every fleet' : `fleet ${printable(created.fleet)}`} to ${printable(created.url)}\n` +
            `Its signing secret, shown only now: ${created.secret}\n`,
    );
  });

  webhook
    .command('list')
    .description('the webhooks (never their secrets)')
    .option('--json', 'print JSON')
    .action(async (opts: JsonOption, cmd: Command) => {
      const hooks = await (await clientFor(cmd, io)).listWebhooks();
      io.stdout(
        opts.json
          ? toJson(hooks)
          : hooks.length === 0
            ? 'No webhooks.\n'
            : renderTable(
                ['ID', 'FLEET', 'KINDS', 'URL', 'CREATED BY'],
                hooks.map((h) => [
                  h.id,
                  h.fleet ?? '(all)',
                  h.kinds.length === 0 ? '(all)' : h.kinds.join(','),
                  printable(h.url),
                  h.createdBy,
                ]),
              ),
      );
    });

  kinds(
    webhook
      .command('remove <id>')
      .description('remove a webhook and its pending deliveries')
      .option('--json', 'print JSON'),
    { '<id>': recordId },
  ).action(async (id: string, opts: JsonOption, cmd: Command) => {
    const removed = await (await clientFor(cmd, io)).deleteWebhook(id);
    io.stdout(opts.json ? toJson(removed) : `Webhook ${removed.id} (${printable(removed.url)}) removed\n`);
  });

  kinds(
    webhook
      .command('deliveries <id>')
      .description("a webhook's last deliveries: state, attempts, the receiver's last answer")
      .option('--json', 'print JSON'),
    { '<id>': recordId },
  ).action(async (id: string, opts: JsonOption, cmd: Command) => {
    const deliveries = await (await clientFor(cmd, io)).webhookDeliveries(id);
    io.stdout(
      opts.json
        ? toJson(deliveries)
        : deliveries.length === 0
          ? 'No deliveries yet.\n'
          : renderTable(
              ['DELIVERY', 'EVENT', 'STATE', 'ATTEMPTS', 'STATUS', 'NEXT ATTEMPT', 'ERROR'],
              deliveries.map((d) => [
                d.id,
                d.kind,
                d.state,
                d.attempts,
                d.lastStatus,
                d.nextAttemptAt,
                d.lastError === null ? null : printable(d.lastError.slice(0, 80)),
              ]),
            ),
    );
  });
}
