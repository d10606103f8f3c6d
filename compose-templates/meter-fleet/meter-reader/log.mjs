// @ts-check
// Structured logs: one JSON object per line on stdout (what the engine keeps and the supervisor collects),
// optionally copied to the fleet's logger service.

/** @typedef {'debug' | 'info' | 'warn' | 'error'} Level */
/** @typedef {(msg: string, fields?: Record<string, unknown>) => void} LogFn */
/** @typedef {{ debug: LogFn, info: LogFn, warn: LogFn, error: LogFn }} Log */
/** @typedef {{ send: (level: Level, line: string) => void }} LogSink */

/** @type {Record<Level, number>} */
const RANK = { debug: 10, info: 20, warn: 30, error: 40 };

/** @param {string} value @returns {value is Level} */
export function isLevel(value) {
  return Object.hasOwn(RANK, value);
}

/**
 * @param {string} service
 * @param {{ level?: Level, sink?: LogSink | null, write?: (line: string) => void }} [options]
 * @returns {Log}
 */
export function createLog(service, options = {}) {
  const min = RANK[options.level ?? 'info'];
  const write = options.write ?? ((line) => process.stdout.write(`${line}\n`));
  /** @param {Level} level @returns {LogFn} */
  const at =
    (level) =>
    (msg, fields = {}) => {
      if (RANK[level] < min) return;
      const line = JSON.stringify({ time: new Date().toISOString(), level, service, msg, ...fields });
      write(line);
      options.sink?.send(level, line);
    };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/**
 * The message of anything thrown, with the cause's code when there is one (fetch hides ECONNREFUSED there).
 * @param {unknown} err
 */
export function messageOf(err) {
  if (!(err instanceof Error)) return String(err);
  const cause = /** @type {{ code?: unknown, message?: unknown } | undefined} */ (err.cause);
  const detail = cause?.code ?? cause?.message;
  return detail === undefined ? err.message : `${err.message} (${String(detail)})`;
}
