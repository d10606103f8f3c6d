// The rewrite of the store's `?` and `@name` placeholders into PostgreSQL's $n: only outside quoted text and
// comments, repeated names bound once, and a wrong count said up front rather than by the server.
import assert from 'node:assert/strict';
import { toNumbered } from '../../registry-api/store/sql/placeholders.js';

describe('SQL placeholders for PostgreSQL', () => {
  it('numbers positional `?` in order with their values', () => {
    assert.deepEqual(toNumbered('SELECT * FROM t WHERE a = ? AND b > ?', ['x', 3]), {
      text: 'SELECT * FROM t WHERE a = $1 AND b > $2',
      values: ['x', 3],
    });
  });

  it('numbers each named parameter once, however often it is used, and ignores extra values', () => {
    assert.deepEqual(
      toNumbered('UPDATE t SET a = @at WHERE id = @id AND (b IS NULL OR b < @at)', { id: 'i', at: 't0', unused: 1 }),
      {
        text: 'UPDATE t SET a = $1 WHERE id = $2 AND (b IS NULL OR b < $1)',
        values: ['t0', 'i'],
      },
    );
  });

  it('leaves `?` and `@` inside string literals, quoted names, comments and dollar quotes alone', () => {
    const sql = `SELECT 'it''s ? @x', "we?ird@name", ? -- what? @y\n/* ? @z */ , $$ ? $$, $tag$ @w ? $tag$, ?`;
    assert.deepEqual(toNumbered(sql, [1, 2]), {
      text: `SELECT 'it''s ? @x', "we?ird@name", $1 -- what? @y\n/* ? @z */ , $$ ? $$, $tag$ @w ? $tag$, $2`,
      values: [1, 2],
    });
  });

  it('leaves casts and numbered parameters as they are', () => {
    assert.deepEqual(toNumbered('SELECT ?::text, $1', ['a']), { text: 'SELECT $1::text, $1', values: ['a'] });
  });

  it('refuses too few or too many positional values', () => {
    assert.throws(() => toNumbered('SELECT ?, ?', ['a']), /more `\?` than the 1 parameter\(s\) given: `SELECT \?, \?`/);
    assert.throws(() => toNumbered('SELECT ?', ['a', 'b']), /2 parameter\(s\) given for 1 `\?`/);
  });

  it('refuses a named parameter without a value, and mixing the two styles', () => {
    assert.throws(() => toNumbered('SELECT @a, @b', { a: 1 }), /no value for parameter @b of `SELECT @a, @b`/);
    assert.throws(() => toNumbered('SELECT ?', { a: 1 }), /needs an array/);
    assert.throws(() => toNumbered('SELECT @a', [1]), /needs named parameters/);
  });

  it('binds a null value as null, not as a missing one', () => {
    assert.deepEqual(toNumbered('SELECT @a', { a: null }), { text: 'SELECT $1', values: [null] });
  });
});
