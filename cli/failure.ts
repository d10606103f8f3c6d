// Turns anything a command threw into what a person reads: what failed, on what, why and what is allowed, in
// words, once, with the exit code scripts branch on (documented in README.md); with --json, one problem+json
// object instead. describeFailure keeps the technical account (validator wording and all) for SKIFF_DEBUG.
import { CommanderError } from 'commander';
import type { Problem } from '../protocol/api.js';
import { type Issue, ValidationError } from '../protocol/validate.js';
import { ApiAnswerError, ApiProblemError, ApiUnreachableError } from './api-client.js';
import { LocalApiAnswerError } from './local/client.js';
import { PATTERN_WORDS, UsageError } from './options/kinds.js';
import { toJsonLine } from './views/output.js';

export { UsageError } from './options/kinds.js';

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

/** `skiff`'s exit codes; README.md "Using the CLI" has the same table. */
export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
  notFound: 3,
  forbidden: 4,
  conflict: 5,
  server: 6,
  network: 7,
} as const;

const AUTH_HINT = 'set a token with --token, SKIFF_API_TOKEN or `skiff login --api URL --token TOKEN`';
const PROBLEM_TYPE = 'urn:skiff:problem:';

/** A problem the API sent, its issues already listed in its detail (a ValidationError's message): said once. */
function detailWithoutIssues(problem: Problem): string {
  const issues = problem.errors ?? [];
  if (issues.length === 0) return problem.detail;
  const listed = issues.map((i) => `${i.path || '/'}: ${i.message}`).join('; ');
  if (problem.detail.endsWith(listed)) return problem.detail.slice(0, -listed.length).trimEnd();
  // A query's issues come back with `?name` paths, its detail still says `/name`: the list starts after this.
  const at = problem.detail.indexOf(' is invalid: ');
  return at === -1 ? problem.detail : problem.detail.slice(0, at + ' is invalid:'.length);
}

export function describeFailure(err: unknown): string {
  if (err instanceof ApiProblemError) {
    const { problem } = err;
    const lines = [`${problem.title} (HTTP ${problem.status} from ${err.request})`];
    const detail = detailWithoutIssues(problem);
    if (detail && detail !== problem.title) lines.push(`  ${detail}`);
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

// --- Validator issues in words ---------------------------------------------------------------------------------

/** `/updateWindow/cron` -> `updateWindow.cron`, `?status` -> `status`: the field as a person names it. */
function fieldOf(path: string): string {
  const field = path
    .replace(/^[?/]+/, '')
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .join('.');
  return field === '' ? 'the value' : field;
}

const TYPE_WORDS: Readonly<Record<string, string>> = {
  string: 'text',
  integer: 'a whole number',
  number: 'a number',
  object: 'an object',
  array: 'a list',
  boolean: 'true or false',
  null: 'empty (null)',
};

const COMPARISON_WORDS: Readonly<Record<string, string>> = {
  '>=': 'at least',
  '<=': 'at most',
  '>': 'more than',
  '<': 'less than',
};

/** One validator message (ajv's wording) in words; a message that is already words passes unchanged. */
export function messageInWords(message: string): string {
  let m: RegExpExecArray | null;
  if ((m = /^must have required property '(.+)'$/.exec(message))) return `needs '${m[1]}'`;
  if ((m = /^must NOT have additional properties(?:: '(.+)')?$/.exec(message)))
    return m[1] === undefined ? 'has a field that is not allowed' : `'${m[1]}' is not allowed here`;
  if ((m = /^must NOT have fewer than (\d+) characters$/.exec(message))) return `is shorter than ${m[1]} characters`;
  if ((m = /^must NOT have more than (\d+) characters$/.exec(message))) return `is longer than ${m[1]} characters`;
  if ((m = /^must NOT have fewer than (\d+) items$/.exec(message))) return `needs at least ${m[1]} entries`;
  if ((m = /^must NOT have more than (\d+) items$/.exec(message))) return `has more than ${m[1]} entries`;
  if ((m = /^must NOT have fewer than (\d+) properties$/.exec(message))) return `needs at least ${m[1]} fields`;
  if (/^must NOT have duplicate items/.test(message)) return 'has the same entry twice';
  if ((m = /^must match pattern "(.*)"$/.exec(message)))
    return `is not in the allowed form (${PATTERN_WORDS[m[1]!] ?? 'see the command help for the form'})`;
  if ((m = /^must match format "(.*)"$/.exec(message))) return `is not a valid ${m[1]}`;
  if ((m = /^must be (>=|<=|>|<) (\S+)$/.exec(message))) return `must be ${COMPARISON_WORDS[m[1]!]} ${m[2]}`;
  if ((m = /^must be (string|integer|number|object|array|boolean|null)$/.exec(message)))
    return `must be ${TYPE_WORDS[m[1]!]}`;
  if ((m = /^must be equal to constant \((.*)\)$/.exec(message)))
    return `must be ${constantOf(m[1]!) ?? 'another value'}`;
  if ((m = /^must be equal to one of the allowed values \((.*)\)$/.exec(message)))
    return `must be one of ${allowedOf(m[1]!) ?? 'the allowed values'}`;
  if (/^must be equal to (constant|one of the allowed values)/.test(message)) return 'is not an allowed value';
  if (/^must match (a schema in anyOf|exactly one schema in oneOf)$/.test(message)) return 'is not in an allowed form';
  if (/^must (NOT |match |have |pass )/.test(message)) return 'is not allowed here';
  return message;
}

function jsonOf(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** `{"allowedValue":"pending"}` (protocol/validate.ts adds ajv's params) -> `pending`. */
function constantOf(params: string): string | null {
  const value = jsonOf(params);
  if (typeof value !== 'object' || value === null || !('allowedValue' in value)) return null;
  return String(value.allowedValue);
}

function allowedOf(params: string): string | null {
  const value = jsonOf(params);
  if (typeof value !== 'object' || value === null || !('allowedValues' in value)) return null;
  return Array.isArray(value.allowedValues) ? value.allowedValues.map(String).join(', ') : null;
}

/**
 * The issues of one refused value, in words, one per field: a union's alternatives (anyOf) become the one list of
 * allowed values when they are constants, and disappear when a deeper field says what is wrong.
 */
export function issuesInWords(issues: readonly Issue[]): Issue[] {
  const byPath = new Map<string, string[]>();
  for (const issue of issues) byPath.set(issue.path, [...(byPath.get(issue.path) ?? []), issue.message]);
  const out: Issue[] = [];
  for (const [path, messages] of byPath) {
    const field = fieldOf(path);
    const union = messages.some((m) => /^must match (a schema in anyOf|exactly one schema in oneOf)$/.test(m));
    if (!union) {
      for (const message of messages) out.push({ path: field, message: messageInWords(message) });
      continue;
    }
    const deeper = [...byPath.keys()].some((p) => p !== path && p.startsWith(`${path}/`));
    if (deeper) continue;
    const constants = messages.map((m) => /^must be equal to constant \((.*)\)$/.exec(m)?.[1]).filter((c) => c);
    const values = constants.map((c) => constantOf(c!)).filter((v): v is string => v !== null);
    out.push({
      path: field,
      message: values.length > 0 ? `must be one of ${values.join(', ')}` : 'is not in an allowed form',
    });
  }
  return out;
}

// --- What a person (or a script) gets ----------------------------------------------------------------------------

/** RFC 9457 problem details as `skiff --json` writes them on stderr. */
export interface CliProblem {
  type: string;
  title: string;
  status?: number;
  detail: string;
  /** The option or argument at fault (`--status`, `<device>`). */
  argument?: string;
  /** Each field that was refused, and why, in words. */
  issues?: Issue[];
  exitCode: number;
}

export interface FailureReport {
  exitCode: number;
  problem: CliProblem;
  /** The lines a person reads, without the leading "error: ". */
  text: string;
}

function exitCodeOfStatus(status: number): number {
  if (status === 400 || status === 422) return EXIT.usage;
  if (status === 401 || status === 403) return EXIT.forbidden;
  if (status === 404) return EXIT.notFound;
  if (status === 409 || status === 412) return EXIT.conflict;
  if (status >= 500) return EXIT.server;
  return EXIT.failure;
}

function issueLines(issues: readonly Issue[]): string[] {
  return issues.map((i) => `  ${i.path}: ${i.message}`);
}

/** What went wrong, for a person and as a problem: the cause's words, under the context it was wrapped in. */
export function reportFailure(err: unknown, command: string | null = null): FailureReport {
  if (err instanceof InContext) {
    const inner = reportFailure(err.cause, command);
    return {
      ...inner,
      problem: { ...inner.problem, detail: `${err.context}: ${inner.problem.detail}` },
      text: `${err.context}: ${inner.text}`,
    };
  }
  if (err instanceof UsageError) {
    const help = `${err.command ?? command ?? 'skiff'} --help`;
    return {
      exitCode: EXIT.usage,
      problem: {
        type: `${PROBLEM_TYPE}usage`,
        title: 'Invalid command line',
        detail: err.message,
        ...(err.argument === null ? {} : { argument: err.argument }),
        exitCode: EXIT.usage,
      },
      text: `${err.message}\n(see \`${help}\`)`,
    };
  }
  if (err instanceof CommanderError) {
    return {
      exitCode: EXIT.usage,
      problem: {
        type: `${PROBLEM_TYPE}usage`,
        title: 'Invalid command line',
        detail: err.message,
        exitCode: EXIT.usage,
      },
      text: err.message.replace(/^error: /, ''),
    };
  }
  if (err instanceof ApiProblemError) {
    const { problem } = err;
    const issues = issuesInWords(problem.errors ?? []);
    const detail = detailWithoutIssues(problem);
    const lines = [`${problem.title} (HTTP ${problem.status} from ${err.request})`];
    if (detail && detail !== problem.title) lines.push(`  ${messageInWords(detail)}`);
    lines.push(...issueLines(issues));
    if (problem.status === 401) lines.push(`  hint: ${AUTH_HINT}`);
    const exitCode = exitCodeOfStatus(problem.status);
    return {
      exitCode,
      problem: {
        type: problem.type,
        title: problem.title,
        status: problem.status,
        detail: `${err.request}: ${messageInWords(detail)}`,
        ...(issues.length > 0 ? { issues } : {}),
        exitCode,
      },
      text: lines.join('\n'),
    };
  }
  if (err instanceof ValidationError) {
    // A request skiff checks before it leaves (the person's input: usage), or an answer of the API that breaks
    // the contract (another version of the API, most likely).
    const answer = err.what.startsWith('the answer');
    const issues = issuesInWords(err.issues);
    const exitCode = answer ? EXIT.failure : EXIT.usage;
    const detail = answer
      ? `${err.what} does not have the shape this skiff expects (is the API another version of Skiff?)`
      : `${err.what} is invalid`;
    return {
      exitCode,
      problem: {
        type: `${PROBLEM_TYPE}${answer ? 'unexpected-answer' : 'invalid-request'}`,
        title: answer ? 'Unexpected answer from the API' : 'Invalid request',
        detail,
        issues,
        exitCode,
      },
      text: [`${detail}:`, ...issueLines(issues)].join('\n'),
    };
  }
  if (err instanceof ApiUnreachableError) {
    return {
      exitCode: EXIT.network,
      problem: {
        type: `${PROBLEM_TYPE}api-unreachable`,
        title: 'Skiff API unreachable',
        detail: err.message,
        exitCode: EXIT.network,
      },
      text: err.message,
    };
  }
  if (err instanceof ApiAnswerError || err instanceof LocalApiAnswerError) {
    const status = err.status;
    // The table's codes are the Skiff API's; a device's own local API is "anything else".
    const exitCode =
      status === undefined || err instanceof LocalApiAnswerError ? EXIT.failure : exitCodeOfStatus(status);
    return {
      exitCode,
      problem: {
        type: `${PROBLEM_TYPE}${err instanceof LocalApiAnswerError ? 'device-refused' : 'unexpected-answer'}`,
        title: err instanceof LocalApiAnswerError ? 'The device refused' : 'Unexpected answer from the API',
        ...(status === undefined ? {} : { status }),
        detail: err.message,
        ...(err instanceof LocalApiAnswerError && err.issues.length > 0 ? { issues: issuesInWords(err.issues) } : {}),
        exitCode,
      },
      text:
        err instanceof LocalApiAnswerError
          ? [
              err.message.split('\n')[0]!,
              ...issueLines(issuesInWords(err.issues)),
              ...err.message.split('\n').filter((l) => l.startsWith('  hint:')),
            ].join('\n')
          : err.message,
    };
  }
  const message = err instanceof Error ? err.message : String(err);
  return {
    exitCode: EXIT.failure,
    problem: { type: `${PROBLEM_TYPE}error`, title: 'Command failed', detail: message, exitCode: EXIT.failure },
    text: message,
  };
}

/** `--json` anywhere before `--`: errors are then problem+json, even when the command line did not parse. */
export function wantsJson(args: readonly string[]): boolean {
  const end = args.indexOf('--');
  return (end === -1 ? args : args.slice(0, end)).includes('--json');
}

/** What `skiff` writes on stderr for `err`, and its exit code. */
export function failureOutput(
  err: unknown,
  { json, debug = false, command = null }: { json: boolean; debug?: boolean; command?: string | null },
): { exitCode: number; stderr: string } {
  const report = reportFailure(err, command);
  if (json) return { exitCode: report.exitCode, stderr: toJsonLine(report.problem) };
  const technical = debug ? `\n(debug) ${describeFailure(err)}${err instanceof Error ? `\n${err.stack}` : ''}` : '';
  return { exitCode: report.exitCode, stderr: `error: ${report.text}${technical}\n` };
}
