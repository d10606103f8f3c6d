// `skiff rollout create|show|pause|resume|abort`, `skiff rollouts` and `skiff fleet stop` against a real API (its
// rollout driver running as main.ts runs it), with a few devices that signed in: what an operator types and reads.
import assert from 'node:assert/strict';
import { RolloutSchema } from '../../protocol/rollouts.js';
import { parse } from '../../protocol/validate.js';
import { ApiServer } from '../../harness/api-server.js';
import { skiff } from '../../harness/skiff-cli.js';
import { TestDevice } from '../../harness/test-device.js';

describe('skiff rollout: start, read, pause, resume, stop and abort a rollout from the command line', function () {
  this.timeout(120_000);
  let api: ApiServer;

  before(async () => {
    api = await ApiServer.start({ redisUrl: null, rolloutTickMs: 100 });
    const fleet = await api.createFleet('meters');
    for (const version of ['1', '2']) {
      const at = new Date().toISOString();
      await api.store.releases.create(
        {
          fleet: 'meters',
          version,
          status: 'ready',
          compose: 'services: {}\n',
          services: [],
          volumes: [],
          networks: [],
          images: {},
          notes: null,
          createdAt: at,
        },
        { actor: 'admin', at },
      );
    }
    for (let i = 0; i < 5; i += 1) {
      const device = TestDevice.create(`c11e0000-0000-4000-8000-00000000000${i}`);
      await device.token(api.url, { fleet: 'meters', provisioningKey: fleet.provisioningKey });
    }
  });

  after(async () => {
    await api?.stop();
  });

  it('runs the whole life of a rollout, each decision in the audit log', async () => {
    const created = parse(
      RolloutSchema,
      JSON.parse(
        await skiff(
          api,
          'rollout',
          'create',
          'meters',
          '2',
          '--phases',
          '20,100',
          '--success',
          '100',
          '--failure',
          '0',
          '--deadline',
          '10m',
          '--rate',
          '1',
          '--rollback',
          '--json',
        ),
      ),
      'the rollout skiff printed',
    );
    assert.equal(created.state, 'running');
    assert.equal(created.deadlineSeconds, 600);
    assert.equal(created.rollbackOnHalt, true);
    assert.deepEqual(
      created.phases.map((phase) => [phase.spec, phase.counts.devices]),
      [
        [{ percent: 20 }, 1],
        [{ percent: 100 }, 4],
      ],
    );

    const listed = await skiff(api, 'rollouts', 'meters');
    assert.match(listed, /^ID\s+RELEASE\s+STATE\s+PHASE\s+HEALTHY\s+FAILED\s+SELECTOR\s+CREATED$/m);
    assert.match(listed, new RegExp(`^${created.id}\\s+2\\s+running\\s+1/2\\s+0/5\\s+0\\s+\\(all\\)`, 'm'));

    const shown = await skiff(api, 'rollout', 'show', created.id);
    assert.match(shown, /^State:\s+running$/m);
    assert.match(shown, /^Rate:\s+1 devices a minute$/m);
    assert.match(shown, /^1\s+20%\s+running\s+1\s+1\s+0\s+0\s+0\s+1\s+0$/m);
    assert.match(shown, /^2\s+100%\s+waiting\s+4\s+0\s+0\s+0\s+0\s+4\s+0$/m);

    assert.equal(
      await skiff(api, 'rollout', 'pause', created.id, '--note', 'checking the canary'),
      `Rollout ${created.id} of fleet meters: paused\n`,
    );
    assert.equal(await skiff(api, 'rollout', 'resume', created.id), `Rollout ${created.id} of fleet meters: running\n`);
    assert.equal(
      await skiff(api, 'fleet', 'stop', 'meters', '--note', 'storm'),
      `Fleet meters: halted ${created.id}\n`,
    );
    assert.equal(await skiff(api, 'fleet', 'stop', 'meters'), 'Fleet meters: no rollout was running.\n');
    assert.equal(await skiff(api, 'rollout', 'abort', created.id), `Rollout ${created.id} of fleet meters: aborted\n`);

    const audit = (await api.admin.listAudit({ fleet: 'meters' }))
      .filter((entry) => entry.target === `rollout:${created.id}`)
      .map((entry) => [entry.action, entry.detail.note ?? null])
      .reverse();
    assert.deepEqual(audit, [
      ['rollout.create', null],
      ['rollout.assign', null],
      ['rollout.pause', 'checking the canary'],
      ['rollout.resume', null],
      ['rollout.stop', 'storm'],
      ['rollout.abort', null],
    ]);
  });
});
