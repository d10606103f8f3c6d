// Orders strings by UTF-16 code units, as Array.prototype.sort does by default: for names and ids, where all that is
// wanted is one stable order on every machine. String.prototype.localeCompare would load ICU's collation data on
// first use, about 2 MB of resident memory that an idle supervisor otherwise never touches (bench/supervisor.ts).
export function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
