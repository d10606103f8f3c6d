// What a person sees when a command line is wrong, for every command `skiff` has: the CLI against a real API
// (harness/api-server.ts). Every command line runs through cli/run.ts in this process (hundreds of them: a process
// each would take minutes on a busy machine), and a spread of them also as the real `skiff` process, which must
// print and exit exactly alike. Commands, arguments and options are read from the commander program itself,
// so a new command is checked the day it is added: each value it takes must have a kind (cli/options/kinds.ts),
// and a bad value of each must be refused with exit code 2, named, with what is allowed, in words; with --json as
// one problem+json object on stderr and nothing on stdout. The API's own refusals keep their documented codes.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Argument, Command, Option } from 'commander';
import { ApiProblemError } from '../../cli/api-client.js';
import { reportFailure } from '../../cli/failure.js';
import { kindOf, type Typed } from '../../cli/options/kinds.js';
import { buildProgram } from '../../cli/program.js';
import { runSkiff } from '../../cli/run.js';
import { skiffVersion } from '../../lib/package-version.js';
import { ProblemSchema } from '../../protocol/api.js';
import { parse } from '../../protocol/validate.js';
import { ApiServer } from '../../harness/api-server.js';
import { SKIFF_MAIN } from '../../harness/skiff-process.js';

/** Validator wording and regular expressions: what a person must never have to read. */
const BANNED = [
  'must be equal to constant',
  'anyOf',
  'oneOf',
  'must match',
  'must NOT',
  'must have required property',
  'must be string',
  'must be object',
  'must be integer',
  '/^',
  '$/',
  '[0-9]',
  'is invalid for argument',
  'command-argument value',
  'too many arguments for',
];

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `args` through the CLI's own runner in this process, its output captured. */
async function runInProcess(env: NodeJS.ProcessEnv, args: string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const io = {
    stdout: (text: string) => {
      stdout += text;
    },
    stderr: (text: string) => {
      stderr += text;
    },
    env,
    now: () => new Date(),
  };
  const code = await runSkiff(args, io);
  return { code, stdout, stderr };
}

/** How many of the bad command lines also run as a real process: a spread over every command. */
const AS_PROCESS = 24;

function run(env: NodeJS.ProcessEnv, args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SKIFF_MAIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      stdout += c;
    });
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      stderr += c;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function assertWords(text: string, context: string): void {
  for (const phrase of BANNED) assert.ok(!text.includes(phrase), `${context}: says '${phrase}':\n${text}`);
}

/** The problem+json object on stderr; stdout empty. */
function problemOf(result: Run, context: string): Record<string, unknown> {
  assert.equal(result.stdout, '', `${context}: stdout must stay empty`);
  const lines = result.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `${context}: stderr must be one problem+json object:\n${result.stderr}`);
  const problem = JSON.parse(lines[0]!) as Record<string, unknown>;
  for (const field of ['type', 'title', 'detail'])
    assert.equal(typeof problem[field], 'string', `${context}: ${field}`);
  return problem;
}

interface Case {
  args: string[];
  typed: Typed;
  json: boolean;
}

function leaves(cmd: Command): Command[] {
  return cmd.commands.length === 0 ? [cmd] : cmd.commands.flatMap(leaves);
}

function pathOf(cmd: Command): string[] {
  const names: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) names.unshift(c.name());
  return names;
}

function typedOf(target: Option | Argument, where: string): Typed {
  const typed = kindOf(target);
  const name = 'long' in target ? (target.long ?? target.flags) : `<${target.name()}>`;
  assert.ok(typed, `${where}: ${name} has no kind (cli/options/kinds.ts): give it one with kinds()`);
  return typed;
}

/** For every command, one command line per value it takes, with a bad value there and good ones elsewhere. */
function badCommandLines(program: Command): Case[] {
  const cases: Case[] = [];
  for (const leaf of leaves(program)) {
    const where = ['skiff', ...pathOf(leaf)].join(' ');
    const args = leaf.registeredArguments;
    const valued = leaf.options.filter((o) => o.required || o.optional);
    const mandatory = valued.filter((o) => o.mandatory);
    const json = leaf.options.some((o) => o.long === '--json');
    const goodArgs = (upTo: number): string[] => args.slice(0, upTo).map((a) => typedOf(a, where).kind.example.good);
    const goodMandatory = (except: Option | null): string[] =>
      mandatory.filter((o) => o !== except).flatMap((o) => [o.long!, typedOf(o, where).kind.example.good]);
    const required = args.filter((a) => a.required).length;
    args.forEach((argument, i) => {
      const typed = typedOf(argument, where);
      cases.push({
        args: [
          ...pathOf(leaf),
          ...goodArgs(i),
          typed.kind.example.bad,
          ...args.slice(i + 1, required).map((a) => typedOf(a, where).kind.example.good),
          ...goodMandatory(null),
        ],
        typed,
        json,
      });
    });
    for (const option of valued) {
      const typed = typedOf(option, where);
      cases.push({
        args: [...pathOf(leaf), ...goodArgs(required), ...goodMandatory(option), option.long!, typed.kind.example.bad],
        typed,
        json,
      });
    }
  }
  // The program's own options (--api, --token), in front of a command that takes no other values.
  for (const option of program.options.filter((o) => o.required || o.optional)) {
    const typed = typedOf(option, 'skiff');
    cases.push({ args: [option.long!, typed.kind.example.bad, 'fleets'], typed, json: true });
  }
  return cases;
}

/** Runs `jobs` a few at a time: the machine is shared. */
async function inBatches<T>(items: T[], size: number, job: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(job));
}

describe('skiff errors: what is wrong, where, what is allowed', function () {
  this.timeout(600_000);
  let api: ApiServer;
  let env: NodeJS.ProcessEnv;
  let scratch: string;

  before(async () => {
    api = await ApiServer.start({ redisUrl: null });
    await api.createFleet('meters');
    env = { PATH: process.env.PATH ?? '', SKIFF_API_URL: api.url, SKIFF_API_TOKEN: api.adminToken, HOME: api.dataDir };
    scratch = await mkdtemp(path.join(os.tmpdir(), 'skiff-cli-errors-'));
  });

  after(async () => {
    await api?.stop();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it('every command refuses a bad value of each argument and option: exit 2, named, allowed values in words', async () => {
    const silent = { stdout: () => undefined, stderr: () => undefined, env: {}, now: () => new Date() };
    const cases = badCommandLines(buildProgram(silent));
    assert.ok(cases.length > 60, `only ${cases.length} command lines: is the program enumerated?`);
    const failures: string[] = [];
    const step = Math.max(1, Math.floor(cases.length / AS_PROCESS));
    const asProcess = new Set(cases.filter((_, i) => i % step === 0));
    await inBatches(cases, 4, async (one) => {
      const { args, typed, json } = one;
      const context = `skiff ${args.map((a) => (a.length > 30 ? `${a.slice(0, 30)}…` : a)).join(' ')}`;
      try {
        const text = await runInProcess(env, args);
        if (asProcess.has(one)) assert.deepEqual(await run(env, args), text, `${context}: the process differs`);
        assert.equal(text.code, 2, `${context}: exit code\n${text.stderr}`);
        assert.equal(text.stdout, '', `${context}: stdout`);
        assert.ok(text.stderr.includes(typed.name), `${context}: does not name ${typed.name}:\n${text.stderr}`);
        const allowed = typed.kind.allowed || typed.kind.noun;
        assert.ok(text.stderr.includes(allowed), `${context}: does not say '${allowed}':\n${text.stderr}`);
        assertWords(text.stderr, context);
        if (!json) return;
        const asJson = await runInProcess(env, [...args, '--json']);
        if (asProcess.has(one))
          assert.deepEqual(await run(env, [...args, '--json']), asJson, `${context} --json: the process differs`);
        assert.equal(asJson.code, 2, `${context} --json: exit code\n${asJson.stderr}`);
        const problem = problemOf(asJson, `${context} --json`);
        assert.equal(problem.argument, typed.name, `${context} --json: argument`);
        assert.equal(problem.exitCode, 2);
        assertWords(String(problem.detail), `${context} --json`);
      } catch (err) {
        failures.push(err instanceof Error ? err.message : String(err));
      }
    });
    assert.deepEqual(failures, [], `${failures.length} of ${cases.length} command lines:\n${failures.join('\n\n')}`);
  });

  it('says which case was meant: the known bad cases of the CLI, one by one', async () => {
    const status = await run(env, ['devices', '--status', 'foo']);
    assert.equal(status.code, 2);
    assert.match(
      status.stderr,
      /^error: --status: 'foo' is not a device status; use one of preauthorized, pending, accepted, rejected\n/,
    );

    const tail = await run(env, ['logs', 'ab12', '--tail', 'abc']);
    assert.match(tail.stderr, /--tail: 'abc' is not a whole number from 0 to 1000/);

    const window = await run(env, ['fleet', 'set', 'meters', '--window', 'garbage']);
    assert.match(window.stderr, /--window: 'garbage' is not a cron expression; use five cron fields/);

    const empty = await run(env, ['device', 'show', '']);
    assert.equal(empty.code, 2);
    assert.match(empty.stderr, /<device>: the device id is empty/);

    const deleting = await run(env, ['device', 'delete', 'X']);
    assert.equal(deleting.code, 2);
    assert.match(deleting.stderr, /'delete' is not a command of `skiff device`; use one of show, pin, /);

    const unknown = await run(env, ['fleetz']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /'fleetz' is not a command of `skiff` \(did you mean fleet, fleets\?\)/);

    const conflicting = await run(env, ['config', 'list', '--fleet', 'meters', '--device', 'ab12', '--json']);
    assert.equal(conflicting.code, 2);
    assert.equal(problemOf(conflicting, 'config list').argument, '--fleet');

    const control = await run(env, ['device', 'show', 'a\u0007b']);
    assert.match(control.stderr, /'a\\x07b' is not a device id/, 'control characters are shown escaped');
  });

  it('gives the API refusals their documented exit codes, as problem+json with --json', async () => {
    const missing = await run(env, ['fleet', 'show', 'nosuch', '--json']);
    assert.equal(missing.code, 3, missing.stderr);
    const notFound = problemOf(missing, 'fleet show nosuch');
    assert.equal(notFound.status, 404);
    assert.match(String(notFound.detail), /nosuch/);

    await run(env, ['fleet', 'create', 'taken', '--device-type', 'generic-amd64']);
    const again = await run(env, ['fleet', 'create', 'taken', '--device-type', 'generic-amd64', '--json']);
    assert.equal(again.code, 5, again.stderr);
    assert.equal(problemOf(again, 'fleet create taken').status, 409);

    const viewer = await run(env, ['user', 'create', 'vera', '--role', 'viewer']);
    assert.equal(viewer.code, 0, viewer.stderr);
    const token = (await run(env, ['token', 'create', 'vera'])).stdout.trim();
    const forbidden = await run({ ...env, SKIFF_API_TOKEN: token }, [
      'fleet',
      'create',
      'nope',
      '--device-type',
      'generic-amd64',
    ]);
    assert.equal(forbidden.code, 4, forbidden.stderr);
    const unauthorized = await run({ ...env, SKIFF_API_TOKEN: 'wrong' }, ['fleets', '--json']);
    assert.equal(unauthorized.code, 4, unauthorized.stderr);
    assert.equal(problemOf(unauthorized, 'fleets with a wrong token').status, 401);

    // A port nothing listens on.
    const port = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const { port } = server.address() as { port: number };
        server.close(() => resolve(port));
      });
    });
    const unreachable = await run({ ...env, SKIFF_API_URL: `http://127.0.0.1:${port}` }, ['fleets', '--json']);
    assert.equal(unreachable.code, 7, unreachable.stderr);
    assert.equal(problemOf(unreachable, 'fleets, API down').type, 'urn:skiff:problem:api-unreachable');
  });

  it("says each of the API's compose errors once", async () => {
    const dir = path.join(scratch, 'bad-compose');
    await import('node:fs/promises').then((fs) => fs.mkdir(dir));
    await writeFile(path.join(dir, 'docker-compose.yml'), 'services:\n  a:\n    image: x\n    ports:\n      - "abc"\n');
    const pushed = await run(env, ['push', dir, '--fleet', 'meters']);
    assert.equal(pushed.code, 2, pushed.stderr);
    const lines = pushed.stderr.split('\n').filter((l) => l.includes('services.a.ports'));
    assert.equal(lines.length, 1, `the issue once:\n${pushed.stderr}`);
    assertWords(pushed.stderr, 'push of a bad compose file');
  });

  it("turns the API's validator issues into words: the field and its allowed values", async () => {
    const url = `${api.url}/v1/devices?status=foo`;
    const answer = await fetch(url, { headers: { authorization: `Bearer ${api.adminToken}` } });
    const problem = parse(ProblemSchema, await answer.json(), 'the problem');
    assert.ok(
      (problem.errors ?? []).some((e) => e.message.includes('anyOf')),
      'the API speaks validator',
    );
    const report = reportFailure(new ApiProblemError(`GET ${url}`, problem));
    assert.equal(report.exitCode, 2);
    assertWords(report.text, 'the words');
    assert.match(report.text, /status: must be one of preauthorized, pending, accepted, rejected/);
    assert.deepEqual(report.problem.issues, [
      { path: 'status', message: 'must be one of preauthorized, pending, accepted, rejected' },
    ]);
  });

  it('prints its version', async () => {
    for (const args of [['--version'], ['version']]) {
      const printed = await run(env, args);
      assert.equal(printed.code, 0);
      assert.equal(printed.stdout, `${skiffVersion()}\n`);
    }
    assert.match(skiffVersion(), /^\d+\.\d+\.\d+/);
  });
});
