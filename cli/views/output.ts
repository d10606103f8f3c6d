// How the CLI shows things to a person: borderless tables (aligned like `docker ps`, easy to grep), ages
// relative to now, byte counts with units. Pure functions: the caller decides where the text goes.
//
// Much of what is shown comes from devices (names, errors, service names, log lines), and a device is not
// trusted with the operator's terminal: every table cell and field value goes through printable(), so control
// characters show as escapes instead of retitling the window, clearing the screen or forging table rows.
import Table from 'cli-table3';

/**
 * Whether the code point is one a terminal acts on instead of showing: C0 controls (ESC, BEL, CR, LF, ...), DEL,
 * C1 controls (CSI U+009B and OSC U+009D act as ESC sequences on some terminals), the Unicode line and paragraph
 * separators, and the bidirectional embedding, override and isolate controls (which reorder what is shown).
 */
function isControl(code: number): boolean {
  return (
    code <= 0x1f ||
    (code >= 0x7f && code <= 0x9f) ||
    code === 0x2028 ||
    code === 0x2029 ||
    (code >= 0x202a && code <= 0x202e) ||
    (code >= 0x2066 && code <= 0x2069)
  );
}

/**
 * `text` safe to write to a terminal: each control character as a visible escape (`\x1b`, `\u202e`), except
 * those in `keep` (a log line keeps its tabs).
 */
export function printable(text: string, keep = ''): string {
  let out = '';
  for (const char of text) {
    const code = char.codePointAt(0) ?? 0;
    if (!isControl(code) || keep.includes(char)) out += char;
    else out += code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  }
  return out;
}

const NO_BORDER = {
  top: '',
  'top-mid': '',
  'top-left': '',
  'top-right': '',
  bottom: '',
  'bottom-mid': '',
  'bottom-left': '',
  'bottom-right': '',
  left: '',
  'left-mid': '',
  mid: '',
  'mid-mid': '',
  right: '',
  'right-mid': '',
  middle: '   ',
} as const;

export type Cell = string | number | null;

/** A table with a header row; null cells show as "-". Ends with a newline. */
export function renderTable(head: string[], rows: Cell[][]): string {
  const table = new Table({
    head,
    chars: NO_BORDER,
    style: { head: [], border: [], 'padding-left': 0, 'padding-right': 0 },
  });
  for (const row of rows) table.push(row.map((cell) => (cell === null || cell === '' ? '-' : printable(String(cell)))));
  return `${table
    .toString()
    .split('\n')
    .map((line) => line.trimEnd())
    .join('\n')}\n`;
}

/** "label: value" lines with the values aligned. */
export function renderFields(fields: Array<[string, Cell]>): string {
  const width = Math.max(0, ...fields.map(([label]) => label.length)) + 1;
  return fields
    .map(
      ([label, value]) =>
        `${`${label}:`.padEnd(width)} ${value === null || value === '' ? '-' : printable(String(value))}\n`,
    )
    .join('');
}

/** "12s ago", "5m ago", "3h ago", "2d ago"; "never" for null; future times (clock skew) as "in 5s". */
export function relativeTime(iso: string | null, now: Date = new Date()): string {
  if (iso === null) return 'never';
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return iso;
  const seconds = Math.round((now.getTime() - then) / 1000);
  const magnitude = Math.abs(seconds);
  const amount =
    magnitude < 60
      ? `${magnitude}s`
      : magnitude < 3600
        ? `${Math.floor(magnitude / 60)}m`
        : magnitude < 86_400
          ? `${Math.floor(magnitude / 3600)}h`
          : `${Math.floor(magnitude / 86_400)}d`;
  if (magnitude === 0) return 'just now';
  return seconds > 0 ? `${amount} ago` : `in ${amount}`;
}

/** "2025-11-23 14:10:05Z": exact, sortable, and free of the reader's time zone. */
export function utcTime(iso: string): string {
  const then = new Date(iso);
  if (Number.isNaN(then.getTime())) return iso;
  return `${then.toISOString().slice(0, 19).replace('T', ' ')}Z`;
}

const BYTE_UNITS = ['B', 'kB', 'MB', 'GB', 'TB'] as const;

/** Decimal units, as registries and `docker push` count them. */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < BYTE_UNITS.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${BYTE_UNITS[unit]}`;
}

/** Cuts to `max` characters with an ellipsis, and folds line breaks so a table row stays one line. */
export function truncate(text: string, max: number): string {
  const flat = text.replace(/\s*\n\s*/g, ' ').trim();
  return flat.length <= max ? flat : `${flat.slice(0, Math.max(0, max - 1))}…`;
}

/**
 * Indented JSON, exact: JSON.stringify escapes the C0 controls inside strings itself (the raw newlines left are
 * its indentation); the other control characters, which it writes raw, are written as \u escapes (they can only
 * occur inside strings, where the escape means the same character).
 */
export function toJson(value: unknown): string {
  return `${exactJson(String(JSON.stringify(value, null, 2)))}\n`;
}

/** toJson on one line: one JSON object per line, as `--follow --json` streams them. */
export function toJsonLine(value: unknown): string {
  return `${exactJson(String(JSON.stringify(value)))}\n`;
}

function exactJson(json: string): string {
  let out = '';
  for (const char of json) {
    const code = char.codePointAt(0) ?? 0;
    out += code > 0x1f && isControl(code) ? `\\u${code.toString(16).padStart(4, '0')}` : char;
  }
  return out;
}
