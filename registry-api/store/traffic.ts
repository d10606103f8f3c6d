// Devices' data use by purpose, per month and per day (migration 17), from the counters their reports carry
// (protocol/state-report.ts TrafficReport: this month's bytes, [sent, received] per purpose). A month's rows are the
// device's own counters as last reported. A day's rows are what those counters grew by in the reports received that
// day (UTC): an idle device reports once a day, so its day is roughly the 24 hours before that report.
import { Type } from '@sinclair/typebox';
import { TRAFFIC_PURPOSES, type TrafficPurpose, type TrafficReport } from '../../protocol/state-report.js';
import type { Database, Queryable } from './sql/database.js';

const TrafficRow = Type.Object({
  period: Type.String(),
  purpose: Type.String(),
  sent: Type.Integer({ minimum: 0 }),
  received: Type.Integer({ minimum: 0 }),
});
const FleetTotalRow = Type.Object({ devices: Type.Integer(), sent: Type.Integer(), received: Type.Integer() });

export type TrafficBytes = TrafficReport['bytes'];

/** One period's bytes by purpose: a month ('YYYY-MM') or a day ('YYYY-MM-DD'). */
export interface TrafficPeriod {
  period: string;
  bytes: TrafficBytes;
}

export interface DeviceTraffic {
  /** Newest first. */
  days: TrafficPeriod[];
  months: TrafficPeriod[];
}

export interface FleetTraffic {
  month: string;
  /** Devices with data use recorded this month. */
  devices: number;
  sent: number;
  received: number;
}

function isPurpose(text: string): text is TrafficPurpose {
  return (TRAFFIC_PURPOSES as readonly string[]).includes(text);
}

/** The month ('YYYY-MM') before the one `at` (ISO-8601) is in. */
function previousMonth(at: string): string {
  const d = new Date(`${at.slice(0, 7)}-01T00:00:00Z`);
  d.setUTCMonth(d.getUTCMonth() - 1);
  return d.toISOString().slice(0, 7);
}

/**
 * Records the counters of a report received at `at` (ISO-8601) in the report's transaction. Counters of last month
 * (a report that crossed the month's end) update that month's rows but add nothing to a day; counters of any other
 * month (a device with a wrong clock, or one making up months) are not kept, so a device cannot grow the table
 * faster than its months pass. A counter that went down (the device lost its file) counts from zero.
 */
export async function recordTraffic(tx: Queryable, uuid: string, traffic: TrafficReport, at: string): Promise<void> {
  if (traffic.month !== at.slice(0, 7) && traffic.month !== previousMonth(at)) return;
  const before = await tx.all(
    TrafficRow,
    'SELECT period, purpose, sent, received FROM device_traffic WHERE uuid = ? AND period = ?',
    [uuid, traffic.month],
  );
  const previous = new Map(before.map((r) => [r.purpose, r]));
  const day = at.slice(0, 10);
  const sameMonth = at.slice(0, 7) === traffic.month;
  for (const purpose of TRAFFIC_PURPOSES) {
    const pair = traffic.bytes[purpose];
    if (pair === undefined) continue;
    const [sent, received] = pair;
    const old = previous.get(purpose);
    const grewSent = old === undefined || sent < old.sent ? sent : sent - old.sent;
    const grewReceived = old === undefined || received < old.received ? received : received - old.received;
    await tx.run(
      `INSERT INTO device_traffic (uuid, period, purpose, sent, received, updated_at) VALUES (?, ?, ?, ?, ?, ?)
      ON CONFLICT (uuid, period, purpose) DO UPDATE SET sent = excluded.sent, received = excluded.received,
        updated_at = excluded.updated_at`,
      [uuid, traffic.month, purpose, sent, received, at],
    );
    if (!sameMonth || (grewSent === 0 && grewReceived === 0)) continue;
    await tx.run(
      `INSERT INTO device_traffic (uuid, period, purpose, sent, received, updated_at) VALUES (?, ?, ?, ?, ?, ?)
      ON CONFLICT (uuid, period, purpose) DO UPDATE SET sent = device_traffic.sent + excluded.sent,
        received = device_traffic.received + excluded.received, updated_at = excluded.updated_at`,
      [uuid, day, purpose, grewSent, grewReceived, at],
    );
  }
}

function periodsOf(rows: readonly (typeof TrafficRow.static)[]): TrafficPeriod[] {
  const byPeriod = new Map<string, TrafficBytes>();
  for (const row of rows) {
    if (!isPurpose(row.purpose)) continue;
    const bytes = byPeriod.get(row.period) ?? {};
    bytes[row.purpose] = [row.sent, row.received];
    byPeriod.set(row.period, bytes);
  }
  return [...byPeriod].sort(([a], [b]) => (a < b ? 1 : a > b ? -1 : 0)).map(([period, bytes]) => ({ period, bytes }));
}

export interface TrafficStore {
  /** The device's days from `sinceDay` ('YYYY-MM-DD') on and its last `months` months with data use, newest first. */
  ofDevice(uuid: string, limits: { sinceDay: string; months: number }): Promise<DeviceTraffic>;
  /** The fleet's devices' data use in `month` ('YYYY-MM'), summed over the devices that reported any. */
  ofFleet(fleet: string, month: string): Promise<FleetTraffic>;
}

export function trafficOn(db: Database): TrafficStore {
  return {
    async ofDevice(uuid, limits) {
      // Months are 7 characters, days 10: the length tells them apart without a column of its own.
      const rows = await db.all(
        TrafficRow,
        `SELECT period, purpose, sent, received FROM device_traffic
        WHERE uuid = ? AND (LENGTH(period) = 7 OR period >= ?) ORDER BY period DESC`,
        [uuid, limits.sinceDay],
      );
      const periods = periodsOf(rows);
      return {
        days: periods.filter((p) => p.period.length === 10),
        months: periods.filter((p) => p.period.length === 7).slice(0, limits.months),
      };
    },
    async ofFleet(fleet, month) {
      const row = await db.get(
        FleetTotalRow,
        `SELECT COUNT(DISTINCT t.uuid) AS devices, CAST(COALESCE(SUM(t.sent), 0) AS BIGINT) AS sent,
          CAST(COALESCE(SUM(t.received), 0) AS BIGINT) AS received
        FROM device_traffic t JOIN devices d ON d.uuid = t.uuid
        WHERE d.fleet = ? AND t.period = ?`,
        [fleet, month],
      );
      return { month, devices: row?.devices ?? 0, sent: row?.sent ?? 0, received: row?.received ?? 0 };
    },
  };
}
