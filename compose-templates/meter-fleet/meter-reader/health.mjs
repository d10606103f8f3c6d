// @ts-check
// The meter reader's own health for the device supervisor: the share of good telegrams among the last ones read,
// which the release judges against its io.skiff.health.min label (../docker-compose.yml). Written to health.json
// in the service's SKIFF_LOCK_DIR, the directory the supervisor gives each service (a container on a bridge
// network cannot reach the supervisor's loopback API). Rare, atomic writes: the directory is on the SD card.
import fs from 'node:fs';
import path from 'node:path';

/** Telegrams the share is taken over: at 1 telegram per 10 s about the last quarter of an hour. */
export const HEALTH_WINDOW = 100;
/** At most one write per this long, except the first: a new release is judged soon after it starts. */
export const HEALTH_WRITE_INTERVAL_MS = 60_000;

export class TelegramHealth {
  /**
   * @param {string} dir the service's SKIFF_LOCK_DIR
   * @param {{ window?: number; writeIntervalMs?: number; now?: () => number }} [options]
   */
  constructor(dir, options = {}) {
    this.file = path.join(dir, 'health.json');
    this.window = options.window ?? HEALTH_WINDOW;
    this.writeIntervalMs = options.writeIntervalMs ?? HEALTH_WRITE_INTERVAL_MS;
    this.now = options.now ?? Date.now;
    /** @type {boolean[]} */
    this.outcomes = [];
    this.lastWrite = -Infinity;
  }

  /** @param {boolean} good whether the telegram passed its checks */
  record(good) {
    this.outcomes.push(good);
    if (this.outcomes.length > this.window) this.outcomes.shift();
    if (this.now() - this.lastWrite >= this.writeIntervalMs) this.write();
  }

  /** The share of good telegrams, or null before the first. */
  value() {
    if (this.outcomes.length === 0) return null;
    return this.outcomes.filter(Boolean).length / this.outcomes.length;
  }

  write() {
    const value = this.value();
    if (value === null) return;
    const good = this.outcomes.filter(Boolean).length;
    const body = JSON.stringify({
      value: Math.round(value * 1000) / 1000,
      detail: `${good} of the last ${this.outcomes.length} telegrams good`,
    });
    const temp = `${this.file}.tmp`;
    try {
      fs.writeFileSync(temp, `${body}\n`);
      fs.renameSync(temp, this.file);
      this.lastWrite = this.now();
    } catch {
      // Without its health file the release is judged as not reporting; reading goes on.
    }
  }
}
