// Device-controlled text in the CLI's human output: control characters are shown as escapes, never written raw,
// and --json stays exact JSON (the same values once parsed).
import assert from 'node:assert/strict';
import { formatLines } from '../../cli/views/logs.js';
import { printable, renderFields, renderTable, toJson, toJsonLine } from '../../cli/views/output.js';

/** The C0, DEL, C1, line separator and bidi control characters in `text` but those `allowed`, as code points. */
function controlsIn(text: string, allowed = ''): number[] {
  return [...text]
    .filter((c) => !allowed.includes(c))
    .map((c) => c.codePointAt(0) ?? 0)
    .filter(
      (code) =>
        code <= 0x1f ||
        (code >= 0x7f && code <= 0x9f) ||
        code === 0x2028 ||
        code === 0x2029 ||
        (code >= 0x202a && code <= 0x202e) ||
        (code >= 0x2066 && code <= 0x2069),
    );
}
const HOSTILE = 'x\u001b]0;pwned\u0007\u001b[2J\r\nFORGED  row\u009b31m\u202eevil\u2028end\ttab';

describe('device text in the terminal', () => {
  it('escapes every control character visibly', () => {
    assert.equal(
      printable(HOSTILE),
      'x\\x1b]0;pwned\\x07\\x1b[2J\\x0d\\x0aFORGED  row\\x9b31m\\u202eevil\\u2028end\\x09tab',
    );
    assert.equal(printable('a\tb\nc', '\t'), 'a\tb\\x0ac', 'only what is kept is kept');
    assert.equal(printable('plain text, ünïcode ✓ and emoji 🚢'), 'plain text, ünïcode ✓ and emoji 🚢');
  });

  it('keeps a table to its rows and fields to their lines', () => {
    const table = renderTable(
      ['NAME', 'ERROR'],
      [
        [HOSTILE, 'boom'],
        ['ok', HOSTILE],
      ],
    );
    assert.deepEqual(controlsIn(table, '\n'), []);
    assert.equal(table.split('\n').length, 4, 'head, two rows and the final newline');
    assert.match(table.split('\n')[1] ?? '', /^x\\x1b\]0;pwned\\x07/);
    const fields = renderFields([
      ['Name', HOSTILE],
      ['Error', HOSTILE],
    ]);
    assert.equal(fields.split('\n').length, 3);
    assert.deepEqual(controlsIn(fields, '\n'), []);
  });

  it('shows log lines one per line, tabs kept', () => {
    const out = formatLines(
      [
        {
          service: 'web\u001b[2J',
          text: HOSTILE,
          timestamp: '2026-01-01T00:00:00.000Z',
          stream: 'stdout',
          containerId: 'c0ffee000001',
        },
        {
          service: 'db',
          text: 'ready',
          timestamp: '2026-01-01T00:00:01.000Z',
          stream: 'stdout',
          containerId: 'c0ffee000001',
        },
      ],
      { width: 10, timestamps: false },
    );
    assert.equal(out.split('\n').length, 3);
    assert.deepEqual(controlsIn(out, '\n\t'), []);
    assert.match(out, /end\ttab\n/);
  });

  it('writes JSON with no raw control character, and the same values', () => {
    const value = { name: HOSTILE, nested: [HOSTILE] };
    for (const json of [toJson(value), toJsonLine(value)]) {
      assert.deepEqual(controlsIn(json, '\n'), []);
      assert.deepEqual(JSON.parse(json), value);
    }
    assert.equal(toJsonLine(value).split('\n').length, 2, 'one line');
  });
});
