// Turns anything a command threw into the one message a person reads: what failed, on what, and why,
// with every field the API or a validator pointed at on its own line.
import { ValidationError } from '../protocol/validate.js';
import { ApiAnswerError, ApiProblemError, ApiUnreachableError } from './api-client.js';

/** Puts what was being done in front of whatever went wrong doing it, keeping the cause's own shape. */
export class InContext extends Error {
  constructor(
    readonly context: string,
    override readonly cause: unknown,
  ) {
    super(`${context}: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = 'InContext';
  }
}

const AUTH_HINT = 'set a token with --token, SKIFF_API_TOKEN or `skiff login --api URL --token TOKEN`';

export function describeFailure(err: unknown): string {
  if (err instanceof ApiProblemError) {
    const { problem } = err;
    const lines = [`${problem.title} (HTTP ${problem.status} from ${err.request})`];
    if (problem.detail && problem.detail !== problem.title) lines.push(`  ${problem.detail}`);
    for (const issue of problem.errors ?? []) lines.push(`  ${issue.path || '/'}: ${issue.message}`);
    if (problem.status === 401) lines.push(`  hint: ${AUTH_HINT}`);
    return lines.join('\n');
  }
  if (err instanceof ValidationError) {
    return [`${err.what} is invalid:`, ...err.issues.map((i) => `  ${i.path || '/'}: ${i.message}`)].join('\n');
  }
  if (err instanceof ApiUnreachableError || err instanceof ApiAnswerError) return err.message;
  if (err instanceof InContext) return `${err.context}: ${describeFailure(err.cause)}`;
  return err instanceof Error ? err.message : String(err);
}
