// A bench's knobs come from SKIFF_BENCH_* environment variables with a default; a value that is not a positive
// number stops the bench before it measures anything.

function positive(name: string, fallback: number, integer: boolean): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  const valid = integer ? Number.isInteger(value) : Number.isFinite(value);
  if (!valid || value <= 0)
    throw new Error(`${name} must be a positive ${integer ? 'integer' : 'number'}, got '${raw}'`);
  return value;
}

export function positiveNumber(name: string, fallback: number): number {
  return positive(name, fallback, false);
}

export function positiveInteger(name: string, fallback: number): number {
  return positive(name, fallback, true);
}
