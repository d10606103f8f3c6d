// @ts-check
// The meter reader's configuration, read once from the environment and checked as a whole, so a wrong
// setting stops the service at start with every problem named instead of failing later.
import { isLevel } from './log.mjs';

/**
 * @typedef {{
 *   source: { kind: 'device', device: string, serial: SerialSettings }
 *         | { kind: 'simulated', intervalMs: number, corruptEvery: number, speed: number },
 *   publishIntervalMs: number,
 *   endpoint: { url: string, token: string | null, timeoutMs: number } | null,
 *   buffer: { file: string, maxBytes: number },
 *   retryMaxMs: number,
 *   heartbeatFile: string,
 *   logLevel: import('./log.mjs').Level,
 *   logTarget: { host: string, port: number } | null,
 * }} Config
 */

/** @typedef {{ baud: number, dataBits: 7 | 8, parity: 'none' | 'even' | 'odd', stopBits: 1 | 2 }} SerialSettings */

export class ConfigError extends Error {
  /** @param {string[]} problems */
  constructor(problems) {
    super(`invalid configuration: ${problems.join('; ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/**
 * @param {Record<string, string | undefined>} env
 * @returns {Config}
 */
export function readConfig(env) {
  /** @type {string[]} */
  const problems = [];
  // Compose files set unused options to "": treat that as unset.
  const get = (/** @type {string} */ name) => {
    const v = env[name]?.trim();
    return v === undefined || v === '' ? undefined : v;
  };
  const number = (/** @type {string} */ name, /** @type {number} */ fallback, /** @type {number} */ min) => {
    const raw = get(name);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min) {
      problems.push(`${name}=${raw} must be a number >= ${min}`);
      return fallback;
    }
    return n;
  };

  const kind = get('METER_SOURCE') ?? 'device';
  /** @type {Config['source']} */
  let source;
  if (kind === 'simulated') {
    source = {
      kind,
      intervalMs: number('METER_INTERVAL_SECONDS', 10, 0.05) * 1000,
      corruptEvery: Math.floor(number('METER_SIM_CORRUPT_EVERY', 0, 0)),
      speed: number('METER_SIM_SPEED', 1, 1),
    };
  } else {
    if (kind !== 'device') problems.push(`METER_SOURCE=${kind} must be 'device' or 'simulated'`);
    const serialText = get('METER_SERIAL') ?? '115200 8N1';
    const serial = parseSerial(serialText);
    if (!serial) problems.push(`METER_SERIAL=${serialText} must look like '115200 8N1' (DSMR 4/5) or '9600 7E1'`);
    source = { kind: 'device', device: get('METER_DEVICE') ?? '/dev/ttyUSB0', serial: serial ?? DSMR5_SERIAL };
  }

  const url = get('METER_ENDPOINT');
  if (url !== undefined && !/^https?:\/\/[^/\s]+/.test(url))
    problems.push(`METER_ENDPOINT=${url} must be an http(s) URL`);

  const levelText = get('LOG_LEVEL') ?? 'info';
  if (!isLevel(levelText)) problems.push(`LOG_LEVEL=${levelText} must be debug, info, warn or error`);

  const targetText = get('LOG_TARGET');
  const target = targetText === undefined ? null : parseHostPort(targetText);
  if (targetText !== undefined && !target) problems.push(`LOG_TARGET=${targetText} must be host:port`);

  const config = {
    source,
    publishIntervalMs: number('METER_PUBLISH_INTERVAL_SECONDS', 10, 0) * 1000,
    endpoint:
      url === undefined
        ? null
        : {
            url,
            token: get('METER_ENDPOINT_TOKEN') ?? null,
            timeoutMs: number('METER_POST_TIMEOUT_SECONDS', 10, 0.1) * 1000,
          },
    buffer: {
      file: get('METER_BUFFER_FILE') ?? '/data/readings.jsonl',
      maxBytes: Math.floor(number('METER_BUFFER_MAX_BYTES', 10 * 1024 * 1024, 4096)),
    },
    retryMaxMs: number('METER_RETRY_MAX_SECONDS', 60, 0.01) * 1000,
    heartbeatFile: get('METER_HEARTBEAT_FILE') ?? '/dev/shm/meter-reader.alive',
    logLevel: isLevel(levelText) ? levelText : 'info',
    logTarget: target,
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/** @type {SerialSettings} */
const DSMR5_SERIAL = { baud: 115200, dataBits: 8, parity: 'none', stopBits: 1 };

/**
 * @param {string} text e.g. '115200 8N1'
 * @returns {SerialSettings | null}
 */
export function parseSerial(text) {
  const m = /^(\d+)\s+([78])([NEO])([12])$/i.exec(text.trim());
  if (!m || m[1] === undefined || m[3] === undefined) return null;
  const parity = m[3].toUpperCase();
  return {
    baud: Number(m[1]),
    dataBits: m[2] === '7' ? 7 : 8,
    parity: parity === 'N' ? 'none' : parity === 'E' ? 'even' : 'odd',
    stopBits: m[4] === '2' ? 2 : 1,
  };
}

/** @param {string} text */
function parseHostPort(text) {
  const m = /^([^:\s]+):(\d{1,5})$/.exec(text);
  const port = Number(m?.[2]);
  if (!m || m[1] === undefined || port < 1 || port > 65535) return null;
  return { host: m[1], port };
}
