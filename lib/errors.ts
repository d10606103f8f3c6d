/** The message of anything thrown, for logs and reports. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Why a fetch() threw, in words: undici hides the socket error (ECONNREFUSED, ...) in `cause`. */
export function fetchFailureReason(err: unknown): string {
  if (err instanceof Error) {
    if (err.name === 'TimeoutError' || err.name === 'AbortError') return 'no answer in time';
    const cause = (err as Error & { cause?: unknown }).cause;
    if (cause instanceof Error) return cause.message || ((cause as NodeJS.ErrnoException).code ?? cause.name);
    return err.message;
  }
  return String(err);
}
