// The rollouts pages and live updates in a real browser (Debian's headless Chromium, driven by playwright-core)
// against a real API whose rollout driver steps every 200 ms, with simulated devices that sign in with their own
// keys, poll their signed targets and report what they run as a supervisor does. An operator creates a rollout
// from a selector and phases in the browser and watches it go phase by phase without the page reloading; pauses and
// resumes it there. The device list shows a device's report within seconds through the fleet events stream, with
// the pages' fallback refresh set to an hour so no timer can be what brought it, and catches up after its
// connection to the API was cut for a while. Screenshots land in .skiff/screenshots/.
import assert from 'node:assert/strict';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { FleetEvent } from '../../protocol/fleet-events.js';
import { paths } from '../../protocol/http/paths.js';
import type { Rollout } from '../../protocol/rollouts.js';
import { FleetEventBus } from '../../registry-api/events/bus.js';
import type { ReleaseRecord } from '../../registry-api/store/index.js';
import { ApiServer } from '../../harness/api-server.js';
import { holds, launchBrowser, logIn, screenshot } from '../../harness/browser.js';
import { runningReport, SimulatedDevice } from '../../harness/simulated-device.js';
import { TestDevice } from '../../harness/test-device.js';

const FLEET = 'meters';
const PASSWORD = 'admin password for the rollouts page test';
const VIEWER_PASSWORD = 'viewer password for the rollouts page test';
/** The dashboard's stored override of its fallback refresh (dashboard/src/live.ts FALLBACK_KEY). */
const FALLBACK_KEY = 'skiff.fallbackRefreshMs';
const HOUR_MS = 3_600_000;
/** Devices tagged north (the rollout's selector picks them) and the rest, which it must leave alone. */
const NORTH = 16;
const OTHERS = 4;

/** Waits for `check` to hold (it throws until then). */
const eventually = (check: () => Promise<unknown>, what: string, timeoutMs = 60_000): Promise<void> =>
  holds(check, what, timeoutMs, 100);

/** A context whose pages refresh on their own only once an hour: whatever changes on them came from an event. */
async function contextWithoutTimer(browser: Browser): Promise<BrowserContext> {
  const context = await browser.newContext();
  await context.addInitScript(
    ({ key, value }) => {
      localStorage.setItem(key, value);
    },
    { key: FALLBACK_KEY, value: String(HOUR_MS) },
  );
  return context;
}

/** What a page asked the API for and whether the page itself was loaded again. */
function watchRequests(page: Page): { documents: string[]; gets: string[] } {
  const seen = { documents: [] as string[], gets: [] as string[] };
  page.on('request', (request) => {
    if (request.resourceType() === 'document') seen.documents.push(request.url());
    else if (request.method() === 'GET') seen.gets.push(new URL(request.url()).pathname);
  });
  return seen;
}

/** A TCP link between the browser and the API that the test can cut (open connections and new ones) and mend. */
class TcpLink {
  private readonly sockets = new Set<Socket>();
  private broken = false;

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async to(target: string): Promise<TcpLink> {
    const { hostname, port } = new URL(target);
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const link = new TcpLink(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    server.on('connection', (client) => {
      if (link.broken) {
        client.destroy();
        return;
      }
      const upstream = connect(Number(port), hostname);
      for (const socket of [client, upstream]) {
        link.sockets.add(socket);
        socket.on('close', () => link.sockets.delete(socket));
        socket.on('error', () => undefined);
      }
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
      client.pipe(upstream).pipe(client);
    });
    return link;
  }

  cut(broken: boolean): void {
    this.broken = broken;
    if (broken) for (const socket of this.sockets) socket.destroy();
  }

  async close(): Promise<void> {
    this.cut(true);
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

const navigations = (page: Page): Promise<number> =>
  page.evaluate(() => performance.getEntriesByType('navigation').length);

describe('dashboard rollouts and live pages in a browser', function () {
  this.timeout(300_000);
  let api: ApiServer;
  let browser: Browser;
  const events: FleetEvent[] = [];
  const releases: Record<string, ReleaseRecord> = {};
  const sims: SimulatedDevice[] = [];

  /** Every device polls its target and, when it changed, runs it at once and reports it, as a quick supervisor. */
  async function round(): Promise<void> {
    for (const sim of sims) await sim.step(api.url, (releaseId) => runningReport(releaseId));
  }

  async function release(version: string): Promise<void> {
    const at = new Date().toISOString();
    releases[version] = await api.store.releases.create(
      {
        fleet: FLEET,
        version,
        status: 'ready',
        compose: 'services:\n  reader:\n    image: reader\n',
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

  before(async () => {
    const bus = new FleetEventBus(() => new Date());
    bus.subscribe((event) => events.push(event));
    api = await ApiServer.start({ redisUrl: null, rolloutTickMs: 200, events: bus });
    const fleet = await api.createFleet(FLEET);
    for (const version of ['1', '2']) await release(version);
    await api.admin.pin(FLEET, '1');
    for (let i = 0; i < NORTH + OTHERS; i += 1) {
      const device = TestDevice.create(`da5b0a4d-0000-4000-8000-${(0x100 + i).toString(16).padStart(12, '0')}`);
      const sim = new SimulatedDevice(device);
      await sim.signIn(api.url, { fleet: FLEET, provisioningKey: fleet.provisioningKey, name: `meter-${i + 1}` });
      sims.push(sim);
      if (i < NORTH) await api.admin.updateDevice(device.uuid, { tags: ['north'] });
    }
    await round();
    assert.ok(sims.every((sim) => sim.reported === releases['1']!.id));
    await api.admin.setPassword('admin', PASSWORD);
    await api.admin.createUser({ name: 'vera', role: 'viewer' });
    await api.admin.setPassword('vera', VIEWER_PASSWORD);
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await api?.stop();
  });

  let rollout: Rollout;

  it('creates a rollout in the browser and shows it progress phase by phase, paused and resumed, without a reload', async () => {
    const context = await contextWithoutTimer(browser);
    const page = await context.newPage();
    const seen = watchRequests(page);
    await logIn(page, api.url, 'admin', PASSWORD);
    await page.getByRole('link', { name: 'Rollouts', exact: true }).click();
    await page.getByRole('heading', { name: 'Start a rollout' }).waitFor();
    await page.getByText('No rollout in this fleet yet.').waitFor();
    await page.getByTestId('live-state').and(page.locator('[data-state="live"]')).waitFor();

    // The selector is checked as it is typed, with the grammar the API uses, and its message shown.
    const start = page.getByRole('button', { name: 'Start rollout' });
    await page.getByLabel('Devices (selector)').fill('colour:red');
    await eventually(
      async () =>
        assert.match((await page.getByTestId('selector-problem').textContent()) ?? '', /unknown key "colour"/),
      'the selector problem is shown',
    );
    assert.equal(await start.isDisabled(), true);
    await page.getByLabel('Devices (selector)').fill('tag:north');
    await page.getByLabel('Phases (cumulative %)').fill('10,5');
    await page
      .getByTestId('phases-problem')
      .getByText(/cumulative/)
      .waitFor();
    assert.equal(await start.isDisabled(), true);
    await page.getByLabel('Phases (cumulative %)').fill('10,50,100');
    await page.getByLabel('Success %').fill('100');
    await page.getByLabel('Release').selectOption('2');
    await screenshot(page, 'rollouts-create');
    await start.click();

    await page.getByRole('heading', { name: /^Rollout .* of release 2$/ }).waitFor();
    const id = /\/rollouts\/meters\/([^/]+)$/.exec(page.url())?.[1];
    assert.ok(id, page.url());
    rollout = await api.admin.getRollout(id, FLEET);
    assert.equal(rollout.selector, 'tag:north');
    assert.deepEqual(
      rollout.phases.map((phase) => phase.counts.devices),
      [2, 6, 8],
    );
    const cell = (phase: number, field: string) =>
      page.locator(`[data-testid="phases"] tr[data-phase="${phase}"] td[data-field="${field}"]`);
    const read = async (phase: number, field: string) => ((await cell(phase, field).textContent()) ?? '').trim();
    const shows = (phase: number, field: string, value: string) =>
      eventually(async () => assert.equal(await read(phase, field), value), `phase ${phase} shows ${field} ${value}`);
    await shows(1, 'state', 'running');
    await shows(1, 'healthy', '0');

    // The devices of the first phase run the release; the page follows: phase 1 passes, phase 2 starts.
    await round();
    await shows(1, 'healthy', '2');
    await shows(1, 'state', 'passed');
    await shows(2, 'state', 'running');
    await shows(2, 'assigned', '6');
    assert.equal(await read(2, 'healthy'), '0');

    // Paused from the page: the API has it paused; the devices already told report, the page counts them, and
    // the rollout stays where it is.
    await page.getByRole('button', { name: 'Pause', exact: true }).click();
    await eventually(
      async () => assert.equal((await api.admin.getRollout(id, FLEET)).state, 'paused'),
      'the API has the rollout paused',
    );
    await eventually(
      async () => assert.equal((await page.getByTestId('rollout-state').textContent())?.trim(), 'paused'),
      'the page shows it paused',
    );
    await page.getByRole('button', { name: 'Resume', exact: true }).waitFor();
    await round();
    await shows(2, 'healthy', '6');
    assert.equal((await api.admin.getRollout(id, FLEET)).state, 'paused');
    assert.equal(await read(3, 'state'), 'waiting');
    await screenshot(page, 'rollout-paused');

    // The overview shows the fleet's active rollout, reached and left by links.
    await page.getByRole('link', { name: 'Overview' }).click();
    const active = page.getByTestId('active-rollout');
    await active.getByText(/phase 2 of 3 \(50%\): 6 of 6 healthy/).waitFor();
    await active.getByText('paused').waitFor();
    await screenshot(page, 'overview-rollout');
    await active.getByRole('link', { name: 'Rollout of 2' }).click();

    await page.getByRole('button', { name: 'Resume', exact: true }).click();
    await eventually(
      async () => assert.equal((await api.admin.getRollout(id, FLEET)).state, 'running'),
      'the API has the rollout running again',
    );
    await shows(2, 'state', 'passed');
    await shows(3, 'state', 'running');
    // A phase's devices are assigned by the driver's step after the one that started it: a round before that
    // would find nothing to take.
    await shows(3, 'assigned', '8');
    await round();
    await shows(3, 'healthy', '8');
    await eventually(
      async () => assert.equal((await page.getByTestId('rollout-state').textContent())?.trim(), 'completed'),
      'the page shows the rollout completed',
    );
    assert.equal(await page.getByTestId('rollout-actions').getByRole('button').count(), 0, 'nothing left to do');
    const decisions = page.getByTestId('decisions');
    for (const action of ['rollout.create', 'rollout.advance', 'rollout.pause', 'rollout.resume', 'rollout.complete'])
      await decisions.getByText(action).first().waitFor();
    await screenshot(page, 'rollout-completed');

    // The devices the selector left out still run release 1.
    await round();
    assert.deepEqual(
      sims.slice(NORTH).map((sim) => sim.reported),
      sims.slice(NORTH).map(() => releases['1']!.id),
    );
    // All of that without loading the page again: one navigation, one document request.
    assert.equal(await navigations(page), 1);
    assert.deepEqual(seen.documents, [`${api.url}/`]);

    await page.getByRole('link', { name: 'Rollouts', exact: true }).click();
    await page.locator(`[data-testid="rollouts"] tr[data-rollout="${id}"]`).getByText('completed').waitFor();
    await screenshot(page, 'rollouts');

    // On a 360-pixel phone both pages fit the screen's width (wide tables scroll within themselves).
    const phone = await browser.newContext({
      viewport: { width: 360, height: 780 },
      storageState: await context.storageState(),
    });
    const small = await phone.newPage();
    for (const [path, name] of [
      [`/rollouts/${FLEET}/${id}`, 'rollout-360px'],
      [`/rollouts?fleet=${FLEET}`, 'rollouts-360px'],
    ] as const) {
      await small.goto(`${api.url}${path}`);
      await small.getByRole('heading', { level: 1 }).waitFor();
      await small.getByText('Loading…').first().waitFor({ state: 'detached' });
      await screenshot(small, name);
      const width = await small.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(width <= 360, `${path} fits a 360 px phone (it is ${width} px wide)`);
    }
    await phone.close();
    await context.close();
  });

  it('halts the fleet with the emergency stop and aborts a halted rollout from the page', async () => {
    await release('3');
    const running = await api.admin.createRollout(FLEET, {
      release: '3',
      selector: 'tag:north',
      phases: [{ percent: 50 }, { percent: 100 }],
    });
    const context = await contextWithoutTimer(browser);
    const page = await context.newPage();
    page.on('dialog', (dialog) => void dialog.accept());
    await logIn(page, api.url, 'admin', PASSWORD);
    await page.getByRole('link', { name: 'Rollouts', exact: true }).click();
    const row = page.locator(`[data-testid="rollouts"] tr[data-rollout="${running.id}"]`);
    await row.getByText('running', { exact: true }).waitFor();
    await page.getByRole('button', { name: 'Emergency stop' }).click();
    await eventually(
      async () => assert.equal((await api.admin.getRollout(running.id, FLEET)).state, 'halted'),
      'the API has the rollout halted',
    );
    await row.getByText('halted', { exact: true }).waitFor();
    await row.getByRole('link', { name: running.id.slice(0, 8) }).click();
    await page.getByTestId('rollout-reason').waitFor();
    assert.equal(await page.getByRole('button', { name: 'Pause', exact: true }).count(), 0, 'a halted rollout');
    await page.getByRole('button', { name: 'Abort', exact: true }).click();
    await eventually(
      async () => assert.equal((await api.admin.getRollout(running.id, FLEET)).state, 'aborted'),
      'the API has the rollout aborted',
    );
    await eventually(
      async () => assert.equal((await page.getByTestId('rollout-state').textContent())?.trim(), 'aborted'),
      'the page shows it aborted',
    );
    // The phase's devices go back to release 2, the one they had.
    await round();
    assert.ok(sims.slice(0, NORTH).every((sim) => sim.reported === releases['2']!.id));
    await context.close();
  });

  it('shows a viewer the rollouts without the buttons the access policy keeps from them', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await logIn(page, api.url, 'vera', VIEWER_PASSWORD);
    await page.getByRole('link', { name: 'Rollouts', exact: true }).click();
    await page.locator(`[data-testid="rollouts"] tr[data-rollout="${rollout.id}"]`).waitFor();
    assert.equal(await page.getByRole('heading', { name: 'Start a rollout' }).count(), 0);
    assert.equal(await page.getByRole('button', { name: 'Emergency stop' }).count(), 0);
    await page.getByRole('link', { name: rollout.id.slice(0, 8) }).click();
    await page.getByTestId('phases').waitFor();
    assert.equal(await page.getByTestId('rollout-actions').count(), 0);
    assert.equal(await page.getByRole('heading', { name: 'Decisions' }).count(), 0, 'the audit is for operators');
    await context.close();
  });

  it("shows a device's report in the device list within seconds through the event stream, not by a timer", async () => {
    const link = await TcpLink.to(api.url);
    const context = await contextWithoutTimer(browser);
    const page = await context.newPage();
    const seen = watchRequests(page);
    await logIn(page, link.url, 'admin', PASSWORD);
    await page.getByRole('link', { name: 'Devices', exact: true }).click();
    // A device no rollout reached: it runs release 1, up to date, whatever the test before did.
    const sim = sims.at(-1)!;
    const status = page.locator(`tr[data-uuid="${sim.device.uuid}"] td[data-label="Status"]`);
    await status.getByText('up to date').waitFor();
    await page.getByTestId('live-state').and(page.locator('[data-state="live"]')).waitFor();
    const lists = () => seen.gets.filter((p) => p === paths.devices).length;

    // Quiet for longer than the old 3-s refresh: the list is loaded again only for the fleet events that came.
    const before = { lists: lists(), events: events.length };
    await new Promise((resolve) => setTimeout(resolve, 4_500));
    const fleetEvents = events.length - before.events;
    assert.ok(
      lists() - before.lists <= fleetEvents,
      `the device list was loaded ${lists() - before.lists} times in a quiet 4.5 s with ${fleetEvents} fleet events`,
    );

    // The device starts an update: its update.started event reaches the page, which loads the list once.
    const reloadsBefore = lists();
    const sent = Date.now();
    await sim.report(api.url, { ...runningReport(sim.reported), updateStatus: 'downloading' });
    await status.getByText('updating').waitFor({ timeout: 30_000 });
    const took = Date.now() - sent;
    assert.ok(took < 5_000, `the page showed the report after ${took} ms`);
    assert.ok(lists() > reloadsBefore, 'the list was loaded again');
    assert.ok(
      events.some((e) => e.kind === 'device.update.started' && e.device === sim.device.uuid),
      'the API announced the update',
    );
    await screenshot(page, 'devices-live');

    // The connection breaks and the API cannot be reached for a while: the header says so; what happened
    // meanwhile is on the page once the stream is back.
    const state = page.getByTestId('live-state');
    link.cut(true);
    await state.and(page.locator('[data-state="reconnecting"]')).waitFor({ timeout: 60_000 });
    await sim.report(api.url, runningReport(sim.reported));
    link.cut(false);
    await state.and(page.locator('[data-state="live"]')).waitFor({ timeout: 60_000 });
    await status.getByText('up to date').waitFor({ timeout: 30_000 });
    assert.equal(await navigations(page), 1);
    await context.close();
    await link.close();
  });
});
