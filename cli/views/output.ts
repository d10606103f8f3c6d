// How the CLI shows things to a person: borderless tables (aligned like `docker ps`, easy to grep), ages
// relative to now, byte counts with units. Pure functions: the caller decides where the text goes.
import Table from 'cli-table3';

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
  for (const row of rows) table.push(row.map((cell) => (cell === null || cell === '' ? '-' : String(cell))));
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
    .map(([label, value]) => `${`${label}:`.padEnd(width)} ${value === null || value === '' ? '-' : String(value)}\n`)
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

export function toJson(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}
