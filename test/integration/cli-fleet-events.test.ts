// `skiff fleet status`, `skiff events`, `skiff device metrics` and `skiff webhook ...` against a real API, with a
// device speaking the real device API: what an operator reads in the terminal.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { FleetEventSchema, type FleetEvent } from '../../protocol/fleet-events.js';
import { paths } from '../../protocol/http/paths.js';
import type { StateReport } from '../../protocol/state-report.js';
import { parse } from '../../protocol/validate.js';
import { ApiServer } from '../../harness/api-server.js';
import { skiff } from '../../harness/skiff-cli.js';
import { TestDevice } from '../../harness/test-device.js';

const CLI = fileURLToPath(new URL('../../cli/main.js', import.meta.url));

describe('skiff: a fleet you can read', function () {
  this.timeout(120_000);
  let api: ApiServer;
  let provisioningKey: string;
  let shortId: string;
  let token: string;
  const device = TestDevice.create(randomUUID());

  async function report(body: Partial<StateReport>): Promise<void> {
    const full: StateReport = {
      supervisorVersion: '9.9.9',
      updateStatus: 'converged',
      targetReleaseId: null,
      releaseId: null,
      services: [],
      error: null,
      reportedAt: new Date().toISOString(),
      ...body,
    };
    const response = await fetch(`${api.url}${paths.state(device.uuid)}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(full),
    });
    assert.equal(response.status, 204, await response.text());
  }

  before(async () => {
    api = await ApiServer.start({ redisUrl: null });
    provisioningKey = (await api.createFleet('meters')).provisioningKey;
    await api.admin.updateFleet('meters', {
      updateWindow: { cron: '0 2 * * *', durationMinutes: 60, timezone: 'Europe/Stockholm' },
    });
    const admitted = await device.token(api.url, { fleet: 'meters', provisioningKey, name: 'kitchen' });
    shortId = admitted.shortId;
    token = admitted.token;
  });

  after(async () => {
    await api?.stop();
  });

  it('follows fleet events with skiff events --json', async () => {
    const child = spawn(process.execPath, [CLI, 'events', '--fleet', 'meters', '--json'], {
      env: { PATH: process.env.PATH ?? '', HOME: api.dataDir, SKIFF_API_URL: api.url, SKIFF_API_TOKEN: api.adminToken },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString('utf8');
      });
      const events = (): FleetEvent[] =>
        out
          .split('\n')
          .filter((line) => line.trim() !== '')
          .map((line) => parse(FleetEventSchema, JSON.parse(line), 'a printed event'));
      // Until the stream is open, nothing published reaches it: register devices until one is heard.
      const deadline = Date.now() + 30_000;
      let heard: FleetEvent | undefined;
      while (heard === undefined) {
        if (Date.now() > deadline) throw new Error(`skiff events printed no registration: ${out}`);
        await TestDevice.create(randomUUID()).token(api.url, { fleet: 'meters', provisioningKey, name: 'shed' });
        await new Promise((resolve) => setTimeout(resolve, 300));
        heard = events().find((e) => e.kind === 'device.registered');
      }
      assert.equal(heard.fleet, 'meters');
      assert.match(heard.summary, /device shed \(.{8}\) joined fleet meters/);
    } finally {
      child.kill('SIGINT');
    }
  });

  it('prints the fleet status with what a waiting device waits for', async () => {
    await report({
      updateStatus: 'downloading',
      updateWindow: {
        state: 'closed',
        downloadAllowed: false,
        applyAllowed: false,
        closesAt: null,
        nextOpening: new Date(Date.now() + 3_600_000).toISOString(),
      },
    });
    const out = await skiff(api, 'fleet', 'status', 'meters');
    assert.match(out, /^Fleet meters: \d+ devices, \d+ online, \d+ offline$/m);
    assert.match(out, /^Updates: .*waiting-window 1/m);
    const row = out.split('\n').find((line) => line.startsWith(shortId)) ?? '';
    assert.match(row, /kitchen .*waiting for update window, opens \d\d:\d\d Europe\/Stockholm/);
  });

  it('prints a device metrics table', async () => {
    await report({
      metrics: {
        cpuPercent: 37.5,
        memoryUsedBytes: 300 * 1024 ** 2,
        memoryTotalBytes: 1024 ** 3,
        temperatureCelsius: 51.2,
        diskUsedBytes: 2 * 1024 ** 3,
        diskTotalBytes: 8 * 1024 ** 3,
        uptimeSeconds: 10,
      },
    });
    const out = await skiff(api, 'device', 'metrics', shortId, '--since', '30m');
    assert.match(out, /^TIME\s+CPU %\s+MEMORY\s+TEMP °C\s+DISK$/m);
    assert.match(out, /37\.5\s+300M\/1\.0G\s+51\.2\s+2\.0G\/8\.0G/);
  });

  it('adds, lists and removes a webhook, showing its secret once', async () => {
    const added = await skiff(
      api,
      'webhook',
      'add',
      'https://hooks.example.com/skiff',
      '--fleet',
      'meters',
      '--kind',
      'device.offline',
    );
    const id = /Webhook (wh_[0-9a-f]+) sends device\.offline of fleet meters/.exec(added)?.[1];
    assert.ok(id, added);
    const secret = /shown only now: (whsec_\S+)/.exec(added)?.[1];
    assert.ok(secret, added);
    const listed = await skiff(api, 'webhook', 'list');
    assert.match(
      listed,
      new RegExp(`^${id}\\s+meters\\s+device\\.offline\\s+https://hooks\\.example\\.com/skiff\\s+admin`, 'm'),
    );
    assert.equal(listed.includes(secret), false);
    assert.equal(await skiff(api, 'webhook', 'deliveries', id), 'No deliveries yet.\n');
    assert.match(await skiff(api, 'webhook', 'remove', id), new RegExp(`Webhook ${id} .* removed`));
    assert.equal(await skiff(api, 'webhook', 'list'), 'No webhooks.\n');
  });
});
