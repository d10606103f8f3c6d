// The dashboard with a real device: a supervisor process managing the environment's device engine, the real API,
// and Debian's headless Chromium. Pinning the device from its page makes the device run that release, and the page
// shows it running without a reload; the page's logs panel streams the service's lines as the device prints them;
// the metrics charts draw what the device reported; a restart asked from the page restarts the very container and
// the page shows what the device said of it.
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import type { DeviceMetricsHistory } from '../../protocol/device-metrics.js';
import { pathOf } from '../../protocol/http/route.js';
import { ROUTES } from '../../protocol/http/routes.js';
import type { SupervisorConfig } from '../../supervisor/config.js';
import { ApiServer } from '../../harness/api-server.js';
import { launchBrowser, logIn, screenshot } from '../../harness/browser.js';
import { loadTestEnv } from '../../harness/env.js';
import { buildTestImage } from '../../harness/images.js';
import {
  cleanDevice,
  deviceDocker,
  eventually,
  execIn,
  inspectContainer,
  managedContainers,
} from '../../harness/supervisor-device.js';
import { makeDataDir, printLogsIfFailed, SupervisorProcess } from '../../harness/supervisor-process.js';

const env = loadTestEnv();
const docker = deviceDocker(env);
const PASSWORD = 'admin password for the device page test';
/** Prints known lines, then whatever appears in /tmp/say. */
const TALKER = [
  'sh',
  '-c',
  [
    'i=1; while [ $i -le 20 ]; do echo "known line $i"; i=$((i+1)); done',
    'trap "exit 0" TERM',
    'while :; do if [ -f /tmp/say ]; then cat /tmp/say; rm -f /tmp/say; fi; sleep 0.2 & wait $!; done',
  ].join('; '),
];
const compose = (build: string) =>
  `services:\n  talker:\n    build: ./talker\n    restart: always\n    labels:\n      build: "${build}"\n`;

/** The running talker container and when it last started. */
async function talkerState(): Promise<{ id: string; running: boolean; startedAt: string }> {
  const found = (await managedContainers(docker)).find((c) => c.service === 'talker');
  if (found === undefined) throw new Error('no talker container on the device');
  const details = await inspectContainer(docker, found.id);
  return { id: found.id, running: details.State.Running, startedAt: details.State.StartedAt };
}

describe('dashboard with a real device', function () {
  this.timeout(300_000);
  let api: ApiServer;
  let device: SupervisorProcess | undefined;
  let dataDir: string | undefined;
  let browser: Browser | undefined;
  let uuid = '';

  before(async () => {
    api = await ApiServer.start({ registry: env.registry, redisUrl: null });
    await cleanDevice(docker);
    const image = await buildTestImage(env, { repo: 'talker', cmd: TALKER });
    const fleet = await api.createFleet('watched');
    const one = await api.createRelease(fleet.name, compose('1'), { talker: image }, { version: '1' });
    await api.createRelease(fleet.name, compose('2'), { talker: image }, { version: '2' });
    await api.admin.pin(fleet.name, one.id);
    await api.admin.setPassword('admin', PASSWORD);
    const config: SupervisorConfig = {
      apiUrl: api.url,
      fleet: fleet.name,
      provisioningKey: fleet.provisioningKey,
      deviceType: 'generic-amd64',
      dockerHost: env.deviceDockerHost,
      localApiPort: 0,
    };
    dataDir = await makeDataDir(config);
    device = new SupervisorProcess(dataDir, { SKIFF_REPORT_INTERVAL_MS: '200' });
    const running = device;
    uuid = await eventually(
      'the device to pick its uuid',
      20_000,
      async () => (JSON.parse(await readFile(path.join(dataDir!, 'config.json'), 'utf8')) as SupervisorConfig).uuid,
    );
    await eventually('release 1 to run', 120_000, async () => {
      const d = await api.device(uuid);
      return d.lastReport?.updateStatus === 'converged' && d.runningRelease === '1' ? d : undefined;
    });
    await eventually('the push channel to be open', 30_000, async () =>
      running.hasLogged('push channel open') ? true : undefined,
    );
    browser = await launchBrowser();
  });

  afterEach(function () {
    printLogsIfFailed(this.currentTest, device);
  });

  after(async () => {
    await browser?.close();
    await device?.stop('SIGKILL');
    await api?.stop();
    await cleanDevice(docker);
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('pins the device from its page; the device runs the release and the page shows it without a reload', async () => {
    const page = await browser!.newPage();
    await logIn(page, api.url, 'admin', PASSWORD);
    await page.goto(`${api.url}/devices/${uuid}`);
    const running = async () => (await page.getByTestId('running-release').textContent())?.trim();
    await eventually('the page to show release 1 running', 30_000, async () =>
      (await running()) === '1' ? true : undefined,
    );
    await page.evaluate(() => {
      (window as unknown as { notReloaded: boolean }).notReloaded = true;
    });
    await page.getByLabel('Release').selectOption('2');
    await page.getByRole('button', { name: 'Pin', exact: true }).click();
    // The page follows the device's own report: waiting, then running 2.
    await eventually('the page to show release 2 running', 150_000, async () =>
      (await running()) === '2' ? true : undefined,
    );
    const d = await api.device(uuid);
    assert.equal(d.runningRelease, '2');
    assert.equal(d.pinnedRelease, '2');
    const talker = (await managedContainers(docker)).find((c) => c.service === 'talker');
    assert.ok(talker, 'the device engine runs the talker');
    assert.equal(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded), true);

    await page.getByRole('button', { name: 'Follow logs' }).click();
    const lines = page.getByTestId('log-lines');
    await lines.getByText(/known line 20/).waitFor({ timeout: 60_000 });
    await execIn(docker, talker.id, [
      'sh',
      '-c',
      "echo 'said while the page follows' > /tmp/say.new && mv /tmp/say.new /tmp/say",
    ]);
    await lines.getByText(/said while the page follows/).waitFor({ timeout: 60_000 });
    await screenshot(page, 'device-live');
    await page.close();
  });

  it('draws the metrics the device reported, and restarts a service from the page: the same container, started again', async () => {
    const metrics = async (): Promise<DeviceMetricsHistory> => {
      const answer = await fetch(`${api.url}${pathOf(ROUTES.deviceMetrics, { uuid })}`, {
        headers: { authorization: `Bearer ${api.adminToken}` },
      });
      assert.equal(answer.status, 200, await answer.clone().text());
      return (await answer.json()) as DeviceMetricsHistory;
    };
    const reported = await eventually('the API to hold a metrics sample of the device', 60_000, async () => {
      const history = await metrics();
      return history.points.length > 0 ? history : undefined;
    });
    assert.equal(reported.resolution, 'raw');

    const page = await browser!.newPage({ viewport: { width: 360, height: 800 } });
    await logIn(page, api.url, 'admin', PASSWORD);
    await page.goto(`${api.url}/devices/${uuid}`);
    const cpu = page.getByTestId('chart-cpu');
    await cpu.locator('canvas').waitFor({ timeout: 60_000 });
    // The page draws what the API answers; more samples may arrive between the two questions.
    const drawn = Number(await cpu.getAttribute('data-points'));
    const after = await metrics();
    assert.ok(
      drawn >= reported.points.length && drawn <= after.points.length,
      `the CPU chart draws ${drawn} points; the API held ${reported.points.length}, then ${after.points.length}`,
    );
    for (const chart of ['memory', 'disk']) {
      const points = Number(await page.getByTestId(`chart-${chart}`).getAttribute('data-points'));
      assert.ok(points > 0, `the ${chart} chart draws the reported points (${points})`);
    }
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 360, `the page fits a 360 px screen (it is ${width} px wide)`);
    await page.getByRole('button', { name: '24 h', exact: true }).click();
    await page
      .getByTestId('metrics-summary')
      .getByText(/15-minute buckets/)
      .waitFor({ timeout: 30_000 });
    await page.getByRole('button', { name: '1 h', exact: true }).click();
    await page
      .getByTestId('metrics-summary')
      .getByText(/\d+ samples?$/)
      .waitFor({ timeout: 30_000 });

    const before = await talkerState();
    assert.equal(before.running, true);
    const asked: string[] = [];
    page.on('dialog', (dialog) => {
      asked.push(dialog.message());
      void dialog.accept();
    });
    await page.locator('select[name="service"]').selectOption('talker');
    await page.getByRole('button', { name: 'Restart', exact: true }).click();
    const result = page.getByTestId('action-result');
    await eventually('the page to show the action succeeded', 90_000, async () =>
      (await result.getAttribute('data-status')) === 'succeeded' ? true : undefined,
    );
    assert.match((await result.textContent()) ?? '', /restart talker: succeeded.*restarted service 'talker'/);
    assert.deepEqual(asked.length, 1, 'the page asked to confirm the restart');
    assert.match(asked[0] ?? '', /Restart talker/);
    const restarted = await talkerState();
    assert.equal(restarted.id, before.id, 'restarted, not replaced');
    assert.ok(
      Date.parse(restarted.startedAt) > Date.parse(before.startedAt),
      `started again (${before.startedAt} -> ${restarted.startedAt})`,
    );
    await screenshot(page, 'device-phone');
    await page.close();
  });
});
