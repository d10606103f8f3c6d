import assert from 'node:assert/strict';
import { ApiAnswerError, ApiProblemError, ApiUnreachableError } from '../../cli/api-client.js';
import { InContext, issuesInWords, reportFailure, UsageError, wantsJson } from '../../cli/failure.js';
import { deviceStatus, readAs, shown, wholeNumber } from '../../cli/options/kinds.js';
import { FleetSettingsChangeSchema } from '../../protocol/fleet-config.js';
import { check } from '../../protocol/validate.js';

const problem = (status: number, extra: object = {}) =>
  new ApiProblemError('GET http://api/v1/x', {
    type: 'urn:skiff:problem:x',
    title: 'T',
    status,
    detail: 'd',
    ...extra,
  });

describe('cli errors in words', () => {
  it('a union of constants becomes the list of allowed values, once', () => {
    const issues = issuesInWords([
      { path: '?status', message: 'must be equal to constant ({"allowedValue":"pending"})' },
      { path: '?status', message: 'must be equal to constant ({"allowedValue":"accepted"})' },
      { path: '?status', message: 'must match a schema in anyOf' },
    ]);
    assert.deepEqual(issues, [{ path: 'status', message: 'must be one of pending, accepted' }]);
  });

  it("a union's alternatives give way to the deeper field that says what is wrong", () => {
    const issues = issuesInWords(
      check(FleetSettingsChangeSchema, { updateWindow: { cron: 'x', durationMinutes: 5, timezone: 'UTC' } }),
    );
    assert.deepEqual(issues, [{ path: 'updateWindow.cron', message: 'is shorter than 9 characters' }]);
  });

  it('patterns, types and required fields are said in words', () => {
    const words = issuesInWords([
      { path: '/name', message: 'must match pattern "^[a-z0-9][a-z0-9-]*$"' },
      { path: '/minutes', message: 'must be integer' },
      { path: '', message: "must have required property 'release'" },
      { path: '/poll', message: 'must be >= 1' },
      { path: 'services.a.ports[0]', message: 'must be a port number' },
    ]);
    assert.deepEqual(
      words.map((i) => `${i.path}: ${i.message}`),
      [
        'name: is not in the allowed form (lowercase letters, digits and dashes, starting with a letter or digit)',
        'minutes: must be a whole number',
        "the value: needs 'release'",
        'poll: must be at least 1',
        'services.a.ports[0]: must be a port number',
      ],
    );
  });

  it('an invalid compose file from the API is said once: its detail lists the issues already', () => {
    const report = reportFailure(
      problem(422, {
        detail: 'compose file is invalid: services.a.ports[0]: must be a port number',
        errors: [{ path: 'services.a.ports[0]', message: 'must be a port number' }],
      }),
    );
    assert.equal(report.text.split('must be a port number').length, 2, report.text);
    assert.match(report.text, /\n {2}compose file is invalid:\n {2}services\.a\.ports\[0\]: must be a port number$/);
  });

  it('exit codes follow the documented table, through the context a failure was wrapped in', () => {
    const codes = [400, 401, 403, 404, 409, 422, 500, 503, 418].map((s) => reportFailure(problem(s)).exitCode);
    assert.deepEqual(codes, [2, 4, 4, 3, 5, 2, 6, 6, 1]);
    assert.equal(reportFailure(new InContext('creating', problem(404))).exitCode, 3);
    assert.equal(reportFailure(new UsageError('--x: bad', '--x')).exitCode, 2);
    assert.equal(reportFailure(new ApiUnreachableError('http://api', 'refused')).exitCode, 7);
    assert.equal(reportFailure(new ApiAnswerError('GET http://api', 'HTTP 502 Bad Gateway: <html>', 502)).exitCode, 6);
    assert.equal(reportFailure(new Error('boom')).exitCode, 1);
  });

  it('--json counts until --', () => {
    assert.equal(wantsJson(['devices', '--json']), true);
    assert.equal(wantsJson(['push', '--', '--json']), false);
  });

  it('refusals name the value cleaned and shortened, and what is allowed', () => {
    assert.equal(shown(`a\u0007${'b'.repeat(60)}`), `'a\\x07${'b'.repeat(35)}…'`);
    assert.throws(
      () => readAs(deviceStatus, '--status', 'foo'),
      new UsageError(
        "--status: 'foo' is not a device status; use one of preauthorized, pending, accepted, rejected",
        '--status',
      ),
    );
    assert.throws(() => readAs(wholeNumber(1, 1000), '--tail', 'abc'), /^UsageError: --tail: 'abc' is not a whole/);
    assert.equal(readAs(wholeNumber(1, 1000), '--tail', '1000'), 1000);
  });
});
