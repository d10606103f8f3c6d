import assert from 'node:assert/strict';
import {
  ComposeBuildError,
  imageTag,
  parseBuildArg,
  planBuilds,
  type BuildPlanInput,
} from '../../cli/push/compose-build.js';

const COMPOSE = `
services:
  reader:
    build:
      context: ./reader
      dockerfile: docker/Dockerfile.pi
      target: runtime
      args:
        BASE: skiff/node:base
        PORT: 8080
        FROM_ENV:
  tunnel:
    build: ./tunnel
  logger:
    image: 127.0.0.1:5000/shared/logger@sha256:${'a'.repeat(64)}
  web:
    image: ignored/name:latest
    build:
      args:
        - BASE=skiff/busybox:base
        - MODE
`;

function input(overrides: Partial<BuildPlanInput> = {}): BuildPlanInput {
  return {
    composeText: COMPOSE,
    composeDir: '/src/app',
    registry: '127.0.0.1:5000',
    fleet: 'meters',
    tag: '1.4.0',
    buildArgOverrides: {},
    env: {},
    ...overrides,
  };
}

describe('cli compose build plan', () => {
  it('builds exactly the services with build, tagged REGISTRY/FLEET/SERVICE:TAG', () => {
    const { builds, warnings } = planBuilds(input());
    assert.deepEqual(
      builds.map((b) => b.service),
      ['reader', 'tunnel', 'web'],
    );
    assert.deepEqual(
      builds.map((b) => `${b.repository}:${b.tag}`),
      ['127.0.0.1:5000/meters/reader:1.4.0', '127.0.0.1:5000/meters/tunnel:1.4.0', '127.0.0.1:5000/meters/web:1.4.0'],
    );
    assert.deepEqual(warnings, []);
  });

  it('resolves contexts from the compose folder and keeps Dockerfile and target', () => {
    const [reader, tunnel, web] = planBuilds(input()).builds;
    assert.equal(reader!.context, '/src/app/reader');
    assert.equal(reader!.dockerfile, 'docker/Dockerfile.pi');
    assert.equal(reader!.target, 'runtime');
    assert.equal(tunnel!.context, '/src/app/tunnel');
    assert.equal(tunnel!.dockerfile, 'Dockerfile');
    assert.equal(tunnel!.target, undefined);
    assert.equal(web!.context, '/src/app');
  });

  it('takes args from maps and lists, valueless ones from the environment, and lets overrides win', () => {
    const plain = planBuilds(input()).builds;
    assert.deepEqual(plain[0]!.buildArgs, { BASE: 'skiff/node:base', PORT: '8080' });
    assert.deepEqual(plain[2]!.buildArgs, { BASE: 'skiff/busybox:base' });

    const withEnv = planBuilds(input({ env: { FROM_ENV: 'e1', MODE: 'prod' } })).builds;
    assert.deepEqual(withEnv[0]!.buildArgs, { BASE: 'skiff/node:base', PORT: '8080', FROM_ENV: 'e1' });
    assert.deepEqual(withEnv[2]!.buildArgs, { BASE: 'skiff/busybox:base', MODE: 'prod' });

    const overridden = planBuilds(input({ buildArgOverrides: { BASE: 'node:20-alpine' } })).builds;
    assert.deepEqual(
      overridden.map((b) => b.buildArgs.BASE),
      ['node:20-alpine', 'node:20-alpine', 'node:20-alpine'],
    );
    assert.equal(overridden[0]!.buildArgs.PORT, '8080');
  });

  it('warns about build keys it does not apply', () => {
    const { warnings } = planBuilds(
      input({ composeText: 'services:\n  a:\n    build:\n      context: .\n      cache_from: [x]\n' }),
    );
    assert.deepEqual(warnings, ["service 'a': build.cache_from is not supported by skiff push and is ignored"]);
  });

  it('refuses what it cannot build, naming the service', () => {
    const cases: Array<[string, RegExp]> = [
      [
        'services:\n  a:\n    build:\n      dockerfile: ../Dockerfile\n',
        /service 'a': build\.dockerfile '\.\.\/Dockerfile' is outside the build context/,
      ],
      ['services:\n  a:\n    build: https://github.com/x/y.git\n', /service 'a': build\.context .* is a URL/],
      ['services:\n  Bad_Name:\n    build: .\n', /service 'Bad_Name': its name cannot be an image repository name/],
      ['services:\n  a:\n    build: 3\n', /service 'a': build must be a path or a map/],
      ['services:\n  a:\n    build:\n      args: [1]\n', /service 'a': build\.args items/],
      ['services: [a]\n', /no services map/],
      ['services:\n  a: {build: .\n', /not valid YAML/],
    ];
    for (const [text, expected] of cases) {
      assert.throws(
        () => planBuilds(input({ composeText: text })),
        (err: Error) => err instanceof ComposeBuildError && expected.test(err.message),
        text,
      );
    }
  });

  it('makes image tags from versions, or from the UTC time when there is none', () => {
    const now = new Date('2025-11-23T14:10:05.000Z');
    assert.equal(imageTag(undefined, now), '20251123-141005');
    assert.equal(imageTag('1.4.0', now), '1.4.0');
    assert.equal(imageTag('v1.4.0+build/7', now), 'v1.4.0-build-7');
    assert.equal(imageTag('.hidden', now), 'hidden');
    assert.equal(imageTag('x'.repeat(200), now).length, 128);
    assert.throws(() => planBuilds(input({ tag: '-bad' })), /cannot be an image tag/);
  });

  it('parses repeated --build-arg KEY=VALUE, keeping "=" inside values', () => {
    let args = parseBuildArg('BASE=skiff/busybox:base');
    args = parseBuildArg('OPTS=a=b', args);
    args = parseBuildArg('BASE=node:20', args);
    assert.deepEqual(args, { BASE: 'node:20', OPTS: 'a=b' });
    assert.deepEqual(parseBuildArg('EMPTY='), { EMPTY: '' });
    assert.throws(() => parseBuildArg('NOVALUE'), /must be KEY=VALUE/);
    assert.throws(() => parseBuildArg('=x'), /must be KEY=VALUE/);
  });
});
