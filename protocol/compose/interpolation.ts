// Compose variable interpolation, done where the variables are: on the developer's machine, by `skiff push`.
// A device has no shell environment and no project folder, so the release the API stores is the file with every
// variable already resolved; the API and devices only ever see `$$` (a literal `$`), never `${VAR}`.
//
// Grammar, as the compose specification writes it: $VAR, ${VAR}, ${VAR:-default} / ${VAR-default} (when unset or
// empty / when unset), ${VAR:?error} / ${VAR?error}, ${VAR:+alternative} / ${VAR+alternative}, `$$` for a `$`.
// Defaults and alternatives may themselves hold variables. Unlike compose, which warns and substitutes an empty
// string, an unset variable without a default is an error: a fleet should not get a blank value by accident
// (write ${VAR:-} for a deliberate empty one).
import { ComposeIssue, type ComposePath } from './path.js';

export type Variables = Readonly<Record<string, string | undefined>>;

const NAME_START = /[A-Za-z_]/;
const NAME_CHAR = /[A-Za-z0-9_]/;

/** A literal value made safe to put into a compose file: every `$` doubled. */
export function escapeDollars(value: string): string {
  return value.replace(/\$/g, '$$$$');
}

/** True when `text` still holds a variable (`$$` escapes are fine). */
export function hasVariables(text: string): boolean {
  return /\$(\{|[A-Za-z_])/.test(text.replace(/\$\$/g, ''));
}

/**
 * `text` with its variables replaced by their (escaped) values; `$$` stays `$$`, so the result is again a compose
 * value and a literal `$` in a variable's value cannot start a new variable.
 */
export function interpolate(text: string, variables: Variables, at: ComposePath): string {
  const { out, end } = expand(text, 0, variables, at, false);
  if (end !== text.length) throw new ComposeIssue(at, `unexpected '}' in '${text}'`);
  return out;
}

/** Expands from `start` up to the end of `text`, or (nested) up to the `}` that closes a default; returns where it stopped. */
function expand(
  text: string,
  start: number,
  variables: Variables,
  at: ComposePath,
  nested: boolean,
): { out: string; end: number } {
  let out = '';
  let i = start;
  while (i < text.length) {
    const c = text[i];
    if (nested && c === '}') return { out, end: i };
    if (c !== '$') {
      out += c;
      i += 1;
      continue;
    }
    const next = text[i + 1] ?? '';
    if (next === '$') {
      out += '$$';
      i += 2;
    } else if (next === '{') {
      const braced = bracedVariable(text, i + 2, variables, at);
      out += braced.out;
      i = braced.end + 1;
    } else if (NAME_START.test(next)) {
      let j = i + 1;
      while (j < text.length && NAME_CHAR.test(text[j] ?? '')) j += 1;
      out += escapeDollars(required(text.slice(i + 1, j), variables, at));
      i = j;
    } else {
      // A lone `$` (before a blank, a digit, the end) is no variable in compose either; write it so it stays one.
      out += '$$';
      i += 1;
    }
  }
  if (nested) throw new ComposeIssue(at, `'${text}' has a '\${' without its closing '}'`);
  return { out, end: i };
}

/** `${NAME[op word]}` from just after `${`; `end` is the index of the closing `}`. */
function bracedVariable(
  text: string,
  start: number,
  variables: Variables,
  at: ComposePath,
): { out: string; end: number } {
  let j = start;
  if (!NAME_START.test(text[j] ?? '')) {
    throw new ComposeIssue(at, `'${text}' has '\${' without a variable name after it (write $$ for a literal $)`);
  }
  while (j < text.length && NAME_CHAR.test(text[j] ?? '')) j += 1;
  const name = text.slice(start, j);
  const value = variables[name];
  if (text[j] === '}') return { out: escapeDollars(required(name, variables, at)), end: j };
  if (j >= text.length) throw new ComposeIssue(at, `'${text}' has a '\${' without its closing '}'`);

  const op = /^(:-|-|:\?|\?|:\+|\+)/.exec(text.slice(j))?.[1];
  if (op === undefined) {
    throw new ComposeIssue(
      at,
      `'${text}': '\${${name}' is followed by '${text[j] ?? ''}', not by }, :-, -, :?, ?, :+ or +`,
    );
  }
  const word = expand(text, j + op.length, variables, at, true);
  const unsetOrEmpty = value === undefined || value === '';
  const missing = op.startsWith(':') ? unsetOrEmpty : value === undefined;
  switch (op) {
    case ':-':
    case '-':
      return { out: missing ? word.out : escapeDollars(value ?? ''), end: word.end };
    case ':?':
    case '?':
      if (missing) {
        throw new ComposeIssue(
          at,
          `variable ${name} is ${value === undefined ? 'not set' : 'empty'}: ${word.out.replace(/\$\$/g, '$') || 'it is required'}`,
        );
      }
      return { out: escapeDollars(value ?? ''), end: word.end };
    default:
      return { out: missing ? '' : word.out, end: word.end };
  }
}

function required(name: string, variables: Variables, at: ComposePath): string {
  const value = variables[name];
  if (value === undefined) {
    throw new ComposeIssue(
      at,
      `variable ${name} is not set in the environment of \`skiff push\` nor in the .env file ` +
        `next to the compose file (write \${${name}:-} for an empty default)`,
    );
  }
  return value;
}
