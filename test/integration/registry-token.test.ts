// The image registry with token auth (scripts/env.sh: authRegistry) and registry-api as its token server, on the
// environment's API port the registry's realm points at. Pushes go through the developer's engine with the CLI's
// pusher, pulls through the device's engine with the supervisor's engine adapter: the engines do the bearer dance
// with the real registry, so what is asserted is what the registry let through.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type Docker from 'dockerode';
import { createLogger } from '../../lib/logger.js';
import { connectEngine as connectCliEngine } from '../../cli/push/engine.js';
import { pushImage, type RegistryCredentials } from '../../cli/push/image-pusher.js';
import { dockerEngine, type Engine } from '../../supervisor/engine/engine.js';
import { ApiServer } from '../../harness/api-server.js';
import { loadTestEnv, type TestEnv } from '../../harness/env.js';
import { BASE_IMAGE } from '../../harness/images.js';
import { TestDevice } from '../../harness/test-device.js';
import { paths } from '../../protocol/http/paths.js';

interface TokenAnswer {
  status: number;
  body: Record<string, unknown>;
  headers: Headers;
}

/** The claims of a JWT, unverified: the registry verifies it; here we read what was granted. */
function claimsOf(token: string): {
  sub: string;
  aud: string;
  access: Array<{ type: string; name: string; actions: string[] }>;
} {
  const payload = token.split('.')[1] ?? '';
  return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as ReturnType<typeof claimsOf>;
}

describe('registry token auth (real registry, real engines)', function () {
  this.timeout(180_000);
  let env: TestEnv;
  let api: ApiServer;
  let devDocker: Docker;
  let deviceEngine: Engine;
  let registry: string;
  const run = randomUUID().slice(0, 8);
  const alpha = `alpha-${run}`;
  const beta = `beta-${run}`;
  const developer: RegistryCredentials = { username: 'dora', password: '', serveraddress: '' };
  const viewer: RegistryCredentials = { username: 'vera', password: '', serveraddress: '' };
  const alphaDevice = TestDevice.create(randomUUID());
  let alphaDeviceToken: string;
  const pushed: Record<string, string> = {};

  async function token(
    credentials: { username: string; password: string } | null,
    query: string,
  ): Promise<TokenAnswer> {
    const headers: Record<string, string> =
      credentials === null
        ? {}
        : {
            authorization: `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`,
          };
    const response = await fetch(`${api.url}/v1/registry/token?${query}`, { headers });
    return {
      status: response.status,
      body: (await response.json()) as Record<string, unknown>,
      headers: response.headers,
    };
  }

  /** Tags the base image as REGISTRY/<fleet>/app:<run> in the developer's engine and pushes it as `who`. */
  async function push(fleet: string, who: RegistryCredentials): Promise<string> {
    const repository = `${registry}/${fleet}/app`;
    await devDocker.getImage(BASE_IMAGE).tag({ repo: repository, tag: run });
    return pushImage(devDocker, repository, run, () => {}, { credentials: who });
  }

  async function removeFromDevice(ref: string): Promise<void> {
    if (await deviceEngine.hasImage(ref)) await deviceEngine.removeImage(ref);
  }

  before(async () => {
    env = loadTestEnv();
    registry = env.authRegistry.address;
    api = await ApiServer.start({
      port: env.apiPort,
      registry,
      registryToken: {
        keyFile: env.authRegistry.tokenKeyFile,
        service: env.authRegistry.service,
        issuer: env.authRegistry.issuer,
      },
    });
    devDocker = await connectCliEngine(env.devDockerHost);
    const log = createLogger('registry-token-test');
    log.level = process.env.SKIFF_LOG_LEVEL ?? 'warn';
    deviceEngine = dockerEngine(env.deviceDockerHost, log);

    const fleetA = await api.createFleet(alpha);
    await api.createFleet(beta);
    for (const [who, role] of [
      [developer, 'developer'],
      [viewer, 'viewer'],
    ] as const) {
      await api.admin.createUser({ name: who.username, role });
      who.password = (await api.admin.createToken(who.username, 'registry')).token;
      who.serveraddress = registry;
    }
    alphaDeviceToken = (await alphaDevice.token(api.url, { fleet: alpha, provisioningKey: fleetA.provisioningKey }))
      .token;
  });

  after(async () => {
    for (const ref of Object.values(pushed)) await removeFromDevice(ref).catch(() => {});
    await api?.stop();
  });

  it('lets a developer push to any fleet', async () => {
    pushed.alpha = await push(alpha, developer);
    pushed.beta = await push(beta, developer);
    assert.match(pushed.alpha, new RegExp(`^${registry}/${alpha}/app@sha256:[a-f0-9]{64}$`));
  });

  it('verifies a release whose images are in this registry with a pull token the API issues itself', async () => {
    const release = await api.createRelease(alpha, 'services:\n  app:\n    image: app\n', { app: pushed.alpha! });
    assert.equal(release.status, 'ready');
  });

  it('refuses a push by a viewer, at the registry', async () => {
    await assert.rejects(push(alpha, viewer), /denied|unauthorized|authentication required/i);
    const answer = await token(viewer, `service=${env.authRegistry.service}&scope=repository:${alpha}/app:push,pull`);
    assert.equal(answer.status, 200);
    assert.deepEqual(claimsOf(String(answer.body.token)).access, [
      { type: 'repository', name: `${alpha}/app`, actions: ['pull'] },
    ]);
  });

  it("lets a device pull its own fleet's image through its engine", async () => {
    assert.ok(pushed.alpha, 'the developer push ran first');
    await removeFromDevice(pushed.alpha);
    await deviceEngine.pullImage(pushed.alpha, {
      username: alphaDevice.uuid,
      password: alphaDeviceToken,
      serveraddress: registry,
    });
    assert.equal(await deviceEngine.hasImage(pushed.alpha), true);
  });

  it("refuses a device another fleet's repository", async () => {
    assert.ok(pushed.beta, 'the developer push ran first');
    await removeFromDevice(pushed.beta);
    const mark = api.requests.length;
    await assert.rejects(
      deviceEngine.pullImage(pushed.beta, {
        username: alphaDevice.uuid,
        password: alphaDeviceToken,
        serveraddress: registry,
      }),
      /denied|unauthorized|authentication required/i,
    );
    assert.equal(await deviceEngine.hasImage(pushed.beta), false);
    // The engine did authenticate (a 200 token, granting nothing): the registry refused the scope, not a stranger.
    const tokenAnswers = api.requests
      .slice(mark)
      .filter((r) => r.path.startsWith('/v1/registry/token'))
      .map((r) => r.status);
    assert.ok(tokenAnswers.includes(200), `token answers during the pull: ${tokenAnswers.join(', ')}`);
    const answer = await token(
      { username: alphaDevice.uuid, password: alphaDeviceToken },
      `service=${env.authRegistry.service}&scope=repository:${beta}/app:pull&scope=repository:${alpha}/app:pull,push`,
    );
    assert.equal(answer.status, 200);
    const claims = claimsOf(String(answer.body.token));
    assert.equal(claims.sub, alphaDevice.uuid);
    assert.equal(claims.aud, env.authRegistry.service);
    assert.deepEqual(claims.access, [
      { type: 'repository', name: `${beta}/app`, actions: [] },
      { type: 'repository', name: `${alpha}/app`, actions: ['pull'] },
    ]);
  });

  it('gives nothing without credentials, with wrong ones, or for another service', async () => {
    const scope = `service=${env.authRegistry.service}&scope=repository:${alpha}/app:pull`;
    const anonymous = await token(null, scope);
    assert.equal(anonymous.status, 401);
    assert.match(anonymous.headers.get('www-authenticate') ?? '', /^Basic /);
    assert.equal(
      (await token({ username: 'dora', password: viewer.password }, scope)).status,
      401,
      "vera's token under dora's name",
    );
    assert.equal((await token({ username: alphaDevice.uuid, password: developer.password }, scope)).status, 401);
    const other = await token(developer, `service=elsewhere&scope=repository:${alpha}/app:pull`);
    assert.equal(other.status, 400);
    assert.match(String(other.body.detail), /service 'elsewhere'/);
  });

  it('refuses a revoked device a token, and so the pull', async () => {
    const response = await fetch(`${api.url}${paths.deviceRevoke(alphaDevice.uuid)}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${api.adminToken}`, 'content-type': 'application/json' },
      body: '{}',
    });
    assert.equal(response.status, 200, await response.text());
    const answer = await token(
      { username: alphaDevice.uuid, password: alphaDeviceToken },
      `service=${env.authRegistry.service}&scope=repository:${alpha}/app:pull`,
    );
    assert.equal(answer.status, 401);
    assert.ok(pushed.alpha);
    await removeFromDevice(pushed.alpha);
    await assert.rejects(
      deviceEngine.pullImage(pushed.alpha, {
        username: alphaDevice.uuid,
        password: alphaDeviceToken,
        serveraddress: registry,
      }),
      /denied|unauthorized|authentication required|401/i,
    );
  });
});
