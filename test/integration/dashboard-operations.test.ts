// The devices page's operations in a real browser (Debian's headless Chromium, driven by playwright-core) against a
// real API, with devices that registered as a supervisor does (TestDevice), commissioned and tagged: a selector
// typed on the page shows exactly the devices the API's `?filter=` picks, a selector that does not parse shows the
// grammar's own message, a tag added to a hand-picked selection lands on exactly those devices, and a bulk revoke
// asks first and does nothing when the person says no. The device page edits tags and where the device was
// commissioned, and warns on top when the meter it reads is not the one it was commissioned for; a viewer gets none
// of the controls. Screenshots land in .skiff/screenshots/.
import assert from 'node:assert/strict';
import type { Browser, Dialog, Page } from 'playwright-core';
import type { Fleet } from '../../protocol/api.js';
import type { DeviceAuthResponse } from '../../protocol/device-auth.js';
import { parseSelector, SelectorError } from '../../protocol/device-selector.js';
import { paths } from '../../protocol/http/paths.js';
import type { StateReport } from '../../protocol/state-report.js';
import { ApiServer } from '../../harness/api-server.js';
import { launchBrowser, screenshot } from '../../harness/browser.js';
import { loadTestEnv } from '../../harness/env.js';
import { eventually } from '../../harness/supervisor-device.js';
import { TestDevice } from '../../harness/test-device.js';

const PASSWORD = 'admin password for the operations test';
const VIEWER_PASSWORD = 'viewer password for the operations test';
const uuidOf = (n: number): string => `0be7a7e5-0000-4000-8000-${String(n).padStart(12, '0')}`;
/** Six devices in two places of two customers, some tagged. */
const DEVICES = [
  { n: 1, name: 'roof-east', customer: 'acme', site: 'roof-1', tags: ['region=north', 'canary'] },
  { n: 2, name: 'roof-west', customer: 'acme', site: 'roof-2', tags: ['region=north'] },
  { n: 3, name: 'cellar', customer: 'acme-energy', site: 'cellar-9', tags: ['region=south'] },
  { n: 4, name: 'depot-a', customer: 'globex', site: 'depot', tags: ['region=north'] },
  { n: 5, name: 'depot-b', customer: 'globex', site: 'depot', tags: [] },
  { n: 6, name: 'spare', customer: null, site: null, tags: ['canary'] },
] as const;

/** The uuids of the table's rows, sorted. */
async function rowsShown(page: Page): Promise<string[]> {
  const uuids = await page
    .locator('table.devices tbody tr')
    .evaluateAll((rows) => rows.map((row) => row.getAttribute('data-uuid') ?? ''));
  return uuids.sort();
}

describe('dashboard: device operations in a browser', function () {
  this.timeout(300_000);
  let api: ApiServer;
  let browser: Browser;
  let fleet: Fleet;
  let page: Page;
  const tokens = new Map<string, DeviceAuthResponse>();

  before(async () => {
    const env = loadTestEnv();
    api = await ApiServer.start({ registry: env.registry, redisUrl: null });
    fleet = await api.createFleet('field');
    for (const d of DEVICES) {
      const token = await TestDevice.create(uuidOf(d.n)).token(api.url, {
        fleet: fleet.name,
        provisioningKey: fleet.provisioningKey,
        name: d.name,
      });
      tokens.set(uuidOf(d.n), token);
      await api.admin.updateDevice(uuidOf(d.n), {
        customer: d.customer,
        site: d.site,
        ...(d.tags.length > 0 ? { tags: [...d.tags] } : {}),
      });
    }
    await api.admin.setPassword('admin', PASSWORD);
    await api.admin.createUser({ name: 'vera', role: 'viewer' });
    await api.admin.setPassword('vera', VIEWER_PASSWORD);
    browser = await launchBrowser();
    page = await browser.newPage();
    await page.goto(api.url);
    await page.getByLabel('User name').fill('admin');
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Log in', exact: true }).click();
    await page.getByRole('navigation', { name: 'pages' }).waitFor();
  });

  after(async () => {
    await browser?.close();
    await api?.stop();
  });

  it('shows exactly the devices the API picks for a selector typed on the page', async () => {
    await page.goto(`${api.url}/devices`);
    await eventually('the page to list every device', 30_000, async () =>
      (await rowsShown(page)).length === DEVICES.length ? true : undefined,
    );
    for (const selector of ['tag:region=north,!site:depot', 'customer:acme*|globex,!tag:canary', 'id:0be7a7e5']) {
      const picked = (await api.admin.listDevices(undefined, undefined, selector)).map((d) => d.uuid).sort();
      await page.getByLabel('Selector').fill(selector);
      await page.getByRole('button', { name: 'Filter', exact: true }).click();
      await eventually(`the page to show what ${selector} picks`, 30_000, async () =>
        JSON.stringify(await rowsShown(page)) === JSON.stringify(picked) ? true : undefined,
      );
      assert.equal(new URL(page.url()).searchParams.get('filter'), selector, 'the filter is in the address');
    }
    // The search box narrows by customer and site as well.
    await page.getByLabel('Selector').fill('');
    await page.getByRole('button', { name: 'Filter', exact: true }).click();
    await page.getByLabel('Search').fill('depot');
    await eventually('the search to show the depot devices', 30_000, async () =>
      JSON.stringify(await rowsShown(page)) === JSON.stringify([uuidOf(4), uuidOf(5)]) ? true : undefined,
    );
    const depotRow = page.locator(`tr[data-uuid="${uuidOf(4)}"]`);
    assert.match((await depotRow.getByText('globex').textContent()) ?? '', /globex \/ depot/);
    await page.getByLabel('Search').fill('');
    await screenshot(page, 'devices-filtered');
  });

  it("shows the grammar's own message for a selector that does not parse, and does not send it", async () => {
    await page.goto(`${api.url}/devices`);
    const bad = 'colour:red';
    let expected = '';
    try {
      parseSelector(bad);
    } catch (err) {
      assert.ok(err instanceof SelectorError);
      expected = err.message;
    }
    assert.notEqual(expected, '');
    await page.getByLabel('Selector').fill(bad);
    const message = page.getByRole('alert');
    await message.waitFor({ timeout: 30_000 });
    assert.equal((await message.textContent())?.trim(), expected);
    assert.equal(await page.getByRole('button', { name: 'Filter', exact: true }).isDisabled(), true);
    assert.equal(new URL(page.url()).searchParams.get('filter'), null);
    await page.getByLabel('Selector').fill('tag:canary');
    await message.waitFor({ state: 'detached', timeout: 30_000 });
  });

  it('adds a tag to a hand-picked selection: exactly those devices, with the counts the API answered', async () => {
    await page.goto(`${api.url}/devices`);
    await eventually('the page to list every device', 30_000, async () =>
      (await rowsShown(page)).length === DEVICES.length ? true : undefined,
    );
    const picked = [uuidOf(2), uuidOf(3), uuidOf(6)];
    for (const uuid of picked) await page.locator(`tr[data-uuid="${uuid}"] input[type="checkbox"]`).check();
    await page.getByLabel('Tags', { exact: true }).fill('batch-7');
    await page.getByRole('button', { name: 'Add tags', exact: true }).click();
    await page
      .getByTestId('bulk-result')
      .getByText('Tagged batch-7: 3 matched, 3 changed')
      .waitFor({ timeout: 30_000 });
    const tagged = (await api.admin.listDevices(fleet.name))
      .filter((d) => (d.tags ?? []).includes('batch-7'))
      .map((d) => d.uuid)
      .sort();
    assert.deepEqual(tagged, picked);
    // Earlier tags stay.
    assert.deepEqual((await api.admin.getDevice(uuidOf(2))).tags, ['region=north', 'batch-7']);
    const audit = await api.admin.listAudit({});
    assert.ok(
      audit.some((e) => e.action === 'device.bulk-tag' && String(e.detail.selector).includes(uuidOf(6))),
      'the bulk tag is audited with its selector',
    );
  });

  it('selects every device a selector picks and sends the selector itself', async () => {
    await page.goto(`${api.url}/devices?filter=${encodeURIComponent('tag:batch-7')}`);
    await eventually('the page to show the tagged devices', 30_000, async () =>
      (await rowsShown(page)).length === 3 ? true : undefined,
    );
    await page.getByRole('button', { name: /Select all 3 that match/ }).click();
    await page.getByText('every device the selector picks (3)').waitFor({ timeout: 30_000 });
    await page.getByLabel('Tags', { exact: true }).fill('batch-7');
    await page.getByRole('button', { name: 'Remove tags', exact: true }).click();
    await page
      .getByTestId('bulk-result')
      .getByText('Untagged batch-7: 3 matched, 3 changed')
      .waitFor({ timeout: 30_000 });
    const left = (await api.admin.listDevices(fleet.name)).filter((d) => (d.tags ?? []).includes('batch-7'));
    assert.deepEqual(left, []);
  });

  it('asks before a bulk revoke: no revokes nothing, yes revokes exactly the selection', async () => {
    await page.goto(`${api.url}/devices`);
    await eventually('the page to list every device', 30_000, async () =>
      (await rowsShown(page)).length === DEVICES.length ? true : undefined,
    );
    const picked = [uuidOf(4), uuidOf(5)];
    for (const uuid of picked) await page.locator(`tr[data-uuid="${uuid}"] input[type="checkbox"]`).check();
    await screenshot(page, 'devices-selection');
    const asked: string[] = [];
    let answer = false;
    const onDialog = (dialog: Dialog) => {
      asked.push(dialog.message());
      void (answer ? dialog.accept() : dialog.dismiss());
    };
    page.on('dialog', onDialog);
    try {
      await page.getByRole('button', { name: 'Revoke', exact: true }).click();
      await eventually('the page to ask', 30_000, async () => (asked.length === 1 ? true : undefined));
      assert.match(asked[0] ?? '', /Revoke 2 selected\?/);
      const untouched = await api.admin.listDevices(fleet.name);
      assert.deepEqual(
        untouched.filter((d) => d.revokedAt).map((d) => d.uuid),
        [],
        'saying no revoked nothing',
      );
      answer = true;
      await page.getByRole('button', { name: 'Revoke', exact: true }).click();
      await page.getByTestId('bulk-result').getByText('Revoked: 2 matched, 2 changed').waitFor({ timeout: 30_000 });
    } finally {
      page.off('dialog', onDialog);
    }
    assert.equal(asked.length, 2);
    const revoked = (await api.admin.listDevices(fleet.name))
      .filter((d) => d.revokedAt)
      .map((d) => d.uuid)
      .sort();
    assert.deepEqual(revoked, picked);
    await screenshot(page, 'devices-revoked');
  });

  it('edits tags and commissioning on the device page, and warns on top of a wrong meter', async () => {
    const uuid = uuidOf(1);
    await api.admin.updateDevice(uuid, { meterSerial: 'E0012345' });
    const report: StateReport = {
      supervisorVersion: '0.1.0',
      updateStatus: 'converged',
      targetReleaseId: null,
      releaseId: null,
      services: [],
      error: null,
      reportedAt: new Date().toISOString(),
      meterSerial: 'E0099999',
    };
    const sent = await fetch(`${api.url}${paths.state(uuid)}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${tokens.get(uuid)?.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(report),
    });
    assert.equal(sent.status, 204, await sent.text());
    assert.equal((await api.admin.getDevice(uuid)).wrongMeter, true);

    await page.goto(`${api.url}/devices/${uuid}`);
    const warning = page.getByTestId('wrong-meter');
    await warning.waitFor({ timeout: 30_000 });
    assert.match((await warning.textContent()) ?? '', /announces serial E0099999.*commissioned for E0012345/);

    await page.getByLabel('Customer', { exact: true }).fill('initech');
    await page.getByLabel('Site', { exact: true }).fill('');
    await page.getByRole('button', { name: 'Save commissioning', exact: true }).click();
    await eventually('the API to hold the new commissioning', 30_000, async () => {
      const d = await api.admin.getDevice(uuid);
      return d.customer === 'initech' && d.site === null ? true : undefined;
    });
    await page.getByTestId('device-customer').getByText('initech').waitFor({ timeout: 30_000 });

    await page.getByLabel('New tag', { exact: true }).fill('ladder');
    await page.getByRole('button', { name: 'Add tag', exact: true }).click();
    await eventually('the API to hold the added tag', 30_000, async () =>
      (await api.admin.getDevice(uuid)).tags?.includes('ladder') ? true : undefined,
    );
    await page.getByRole('button', { name: 'remove tag canary', exact: true }).click();
    await eventually('the API to drop the removed tag', 30_000, async () => {
      const tags = (await api.admin.getDevice(uuid)).tags ?? [];
      return tags.includes('canary') ? undefined : tags;
    });
    assert.deepEqual((await api.admin.getDevice(uuid)).tags, ['region=north', 'ladder']);
    await page.getByTestId('device-tags').getByText('region=north, ladder').waitFor({ timeout: 30_000 });
    await screenshot(page, 'device-commissioning');

    // A viewer sees the warning and none of the controls.
    const context = await browser.newContext();
    const viewer = await context.newPage();
    await viewer.goto(api.url);
    await viewer.getByLabel('User name').fill('vera');
    await viewer.getByLabel('Password', { exact: true }).fill(VIEWER_PASSWORD);
    await viewer.getByRole('button', { name: 'Log in', exact: true }).click();
    await viewer.getByRole('navigation', { name: 'pages' }).waitFor();
    await viewer.goto(`${api.url}/devices/${uuid}`);
    await viewer.getByTestId('wrong-meter').waitFor({ timeout: 30_000 });
    await viewer.getByRole('heading', { name: 'Metrics' }).waitFor({ timeout: 30_000 });
    for (const heading of ['Remote actions', 'Actions', 'Commissioning'])
      assert.equal(await viewer.getByRole('heading', { name: heading, exact: true }).count(), 0, heading);
    assert.equal(await viewer.getByRole('button', { name: /remove tag/ }).count(), 0);
    await viewer.goto(`${api.url}/devices`);
    await viewer.locator(`tr[data-uuid="${uuid}"] input[type="checkbox"]`).check();
    await viewer.getByText('1 selected (you may not change them)').waitFor({ timeout: 30_000 });
    assert.equal(await viewer.getByRole('button', { name: 'Revoke', exact: true }).count(), 0);
    await context.close();
  });
});
