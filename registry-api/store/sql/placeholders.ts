// The store writes `?` (with an array) or `@name` (with an object), as SQLite takes them; PostgreSQL numbers its
// parameters ($1, $2, ...). This rewrites one into the other, skipping string literals, quoted names, comments and
// dollar-quoted bodies, where a `?` or `@` is text.
import { oneLine, type SqlParams, type SqlValue } from './database.js';

export interface NumberedStatement {
  text: string;
  values: SqlValue[];
}

const NAME_START = /[A-Za-z_]/;
const NAME_PART = /[A-Za-z0-9_]/;

function isPositional(params: SqlParams): params is readonly SqlValue[] {
  return Array.isArray(params);
}

/** Where the quoted or commented stretch that starts at `i` ends (exclusive); `i` itself if none starts there. */
function skipInert(sql: string, i: number): number {
  const c = sql[i];
  const next = sql[i + 1];
  if (c === "'" || c === '"') {
    let j = i + 1;
    for (;;) {
      const end = sql.indexOf(c, j);
      if (end < 0) return sql.length;
      // A doubled quote is the quote character itself, inside the literal.
      if (sql[end + 1] === c) {
        j = end + 2;
        continue;
      }
      return end + 1;
    }
  }
  if (c === '-' && next === '-') {
    const end = sql.indexOf('\n', i);
    return end < 0 ? sql.length : end + 1;
  }
  if (c === '/' && next === '*') {
    const end = sql.indexOf('*/', i + 2);
    return end < 0 ? sql.length : end + 2;
  }
  if (c === '$') {
    const tag = /^\$[A-Za-z_]?[A-Za-z0-9_]*\$/.exec(sql.slice(i));
    if (tag) {
      const end = sql.indexOf(tag[0], i + tag[0].length);
      return end < 0 ? sql.length : end + tag[0].length;
    }
  }
  return i;
}

export function toNumbered(sql: string, params: SqlParams = []): NumberedStatement {
  const values: SqlValue[] = [];
  const numberOf = new Map<string, number>();
  let positional = 0;
  let out = '';
  let i = 0;
  while (i < sql.length) {
    const skipped = skipInert(sql, i);
    if (skipped > i) {
      out += sql.slice(i, skipped);
      i = skipped;
      continue;
    }
    const c = sql[i] ?? '';
    if (c === '?') {
      if (!isPositional(params))
        throw new Error(`\`?\` needs an array of parameters, got named ones: \`${oneLine(sql)}\``);
      if (positional >= params.length) {
        throw new Error(`more \`?\` than the ${params.length} parameter(s) given: \`${oneLine(sql)}\``);
      }
      values.push(params[positional] ?? null);
      positional += 1;
      out += `$${positional}`;
      i += 1;
      continue;
    }
    if (c === '@' && NAME_START.test(sql[i + 1] ?? '')) {
      let j = i + 2;
      while (j < sql.length && NAME_PART.test(sql[j] ?? '')) j += 1;
      const name = sql.slice(i + 1, j);
      if (isPositional(params))
        throw new Error(`\`@${name}\` needs named parameters, got an array: \`${oneLine(sql)}\``);
      let n = numberOf.get(name);
      if (n === undefined) {
        if (!Object.hasOwn(params, name)) throw new Error(`no value for parameter @${name} of \`${oneLine(sql)}\``);
        values.push(params[name] ?? null);
        n = values.length;
        numberOf.set(name, n);
      }
      out += `$${n}`;
      i = j;
      continue;
    }
    out += c;
    i += 1;
  }
  if (isPositional(params) && positional !== params.length) {
    throw new Error(`${params.length} parameter(s) given for ${positional} \`?\`: \`${oneLine(sql)}\``);
  }
  return { text: out, values };
}
