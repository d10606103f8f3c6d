// The dashboard in a real browser (Debian's headless Chromium, driven by playwright-core) against a real API over
// SQLite or PostgreSQL, with devices that registered and report as a supervisor does (TestDevice) and releases
// whose images are in the environment's registry. People log in as they would; what the pages show is checked
// against what the API answers. The screenshots of the main pages land in .skiff/screenshots/.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { Browser, BrowserContext } from 'playwright-core';
import type { Fleet, Release } from '../../protocol/api.js';
import type { DeviceAuthResponse } from '../../protocol/device-auth.js';
import { CSRF_HEADER, SESSION_COOKIE } from '../../protocol/http/auth.js';
import { paths } from '../../protocol/http/paths.js';
import { pathOf } from '../../protocol/http/route.js';
import { ROUTES } from '../../protocol/http/routes.js';
import type { StateReport } from '../../protocol/state-report.js';
import { ApiServer } from '../../harness/api-server.js';
import { holds, launchBrowser, logIn, screenshot } from '../../harness/browser.js';
import { loadTestEnv } from '../../harness/env.js';
import { buildTestImage } from '../../harness/images.js';
import { SKIFF_MAIN } from '../../harness/skiff-process.js';
import { skiff } from '../../harness/skiff-cli.js';
import { TestDevice } from '../../harness/test-device.js';

/** Failed logins one address may make in this suite: the last test reaches it. */
const ADDRESS_LIMIT = 10;
const ADMIN_PASSWORD = 'admin password for the dashboard test';
const VIEWER_PASSWORD = 'viewer password for the dashboard test';
const DEVICES = [
  'da5b0a4d-0000-4000-8000-000000000001',
  'da5b0a4d-0000-4000-8000-000000000002',
  'da5b0a4d-0000-4000-8000-000000000003',
];
const compose = (tag: string): string => `services:\n  meter:\n    image: meter\n    labels:\n      build: "${tag}"\n`;

/** Waits for `check` to hold (it throws until then); the page refreshes on its own, so this is no sleep. */
const eventually = (check: () => Promise<void>, what: string, timeoutMs = 30_000): Promise<void> =>
  holds(check, what, timeoutMs, 200);

/** `skiff user password NAME` as a person runs it, the password on standard input. */
async function setPasswordWithCli(api: ApiServer, user: string, password: string): Promise<string> {
  const child = spawn(process.execPath, [SKIFF_MAIN, 'user', 'password', user], {
    env: { PATH: process.env.PATH ?? '', SKIFF_API_URL: api.url, SKIFF_API_TOKEN: api.adminToken, HOME: api.dataDir },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    err += chunk.toString();
  });
  child.stdin.end(`${password}\n`);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 0, `skiff user password ${user} failed: ${err}`);
  return out;
}

/** Logs in through the page's form. */
async function sessionCookieOf(context: BrowserContext): Promise<string | undefined> {
  return (await context.cookies()).find((c) => c.name === SESSION_COOKIE)?.value;
}

/** Logs in with fetch, as a script of an attacker would; the session cookie's value. */
async function loginCookie(api: ApiServer, user: string, password: string): Promise<string> {
  const response = await fetch(`${api.url}${pathOf(ROUTES.login)}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user, password }),
  });
  assert.equal(response.status, 200, await response.text());
  const cookie = /skiff_session=([^;]+)/.exec(response.headers.get('set-cookie') ?? '')?.[1];
  assert.ok(cookie, 'the login set the session cookie');
  return cookie;
}

async function sessionStatus(api: ApiServer, cookie: string): Promise<number> {
  const response = await fetch(`${api.url}${pathOf(ROUTES.webSession)}`, {
    headers: { cookie: `${SESSION_COOKIE}=${cookie}` },
  });
  await response.arrayBuffer();
  return response.status;
}

describe('dashboard in a browser', function () {
  this.timeout(300_000);
  let api: ApiServer;
  let browser: Browser;
  let fleet: Fleet;
  let one: Release;

  before(async () => {
    const env = loadTestEnv();
    // The address's limit lowered from 20 so that the test reaching it hashes a few passwords, not twenty.
    api = await ApiServer.start({
      registry: env.registry,
      redisUrl: null,
      loginLimits: { address: { max: ADDRESS_LIMIT, windowMs: 15 * 60_000 } },
    });
    fleet = await api.createFleet('meters');
    const image = await buildTestImage(env, { repo: 'dashboard' });
    one = await api.createRelease(fleet.name, compose('1'), { meter: image }, { version: '1' });
    await api.createRelease(fleet.name, compose('2'), { meter: image }, { version: '2' });
    await api.admin.pin(fleet.name, one.id);
    const tokens: DeviceAuthResponse[] = [];
    for (const [i, uuid] of DEVICES.entries()) {
      tokens.push(
        await TestDevice.create(uuid).token(api.url, {
          fleet: fleet.name,
          provisioningKey: fleet.provisioningKey,
          name: `meter-${i + 1}`,
        }),
      );
    }
    // Two devices run release 1, as a supervisor reports it; the third registered and never reported.
    for (const [i, token] of tokens.slice(0, 2).entries()) {
      const report: StateReport = {
        supervisorVersion: '0.1.0',
        updateStatus: 'converged',
        targetReleaseId: one.id,
        releaseId: one.id,
        services: [
          {
            name: 'meter',
            releaseId: one.id,
            image,
            containerId: `c0ffee${i}`,
            state: 'running',
            health: null,
            exitCode: null,
            restarts: i,
          },
        ],
        error: null,
        reportedAt: new Date().toISOString(),
      };
      const answer = await fetch(`${api.url}${paths.state(DEVICES[i]!)}`, {
        method: 'PATCH',
        headers: { authorization: `Bearer ${token.token}`, 'content-type': 'application/json' },
        body: JSON.stringify(report),
      });
      assert.equal(answer.status, 204, await answer.text());
    }
    await api.admin.updateDevice(DEVICES[0]!, { tags: ['roof'] });
    const printed = await setPasswordWithCli(api, 'admin', ADMIN_PASSWORD);
    assert.match(printed, /Password of admin set; they log in at http:\/\/127\.0\.0\.1:\d+\//);
    await api.admin.createUser({ name: 'vera', role: 'viewer' });
    await api.admin.setPassword('vera', VIEWER_PASSWORD);
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await api?.stop();
  });

  it('serves the page with a strict Content-Security-Policy, immutable assets and no store of the page', async () => {
    const page = await fetch(`${api.url}/devices/anything`);
    const html = await page.text();
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'self'; script-src 'self'/);
    assert.equal(page.headers.get('cache-control'), 'no-cache');
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    assert.ok(asset, html);
    const script = await fetch(`${api.url}${asset}`);
    await script.arrayBuffer();
    assert.equal(script.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    const again = await fetch(`${api.url}/`, { headers: { 'if-none-match': page.headers.get('etag') ?? '' } });
    assert.equal(again.status, 304);
    // The API's own paths stay the API's: an unknown one is a problem, not the page.
    const unknown = await fetch(`${api.url}/v1/nothing-here`);
    assert.equal(unknown.status, 404);
    assert.match(unknown.headers.get('content-type') ?? '', /problem\+json/);
  });

  it('an admin logs in and the overview counts what the API lists', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(api.url);
    await page.getByLabel('User name').waitFor();
    await screenshot(page, 'login');
    await logIn(page, api.url, 'admin', ADMIN_PASSWORD);
    const devices = await api.admin.listDevices();
    const online = devices.filter((d) => d.online).length;
    const onRelease1 = devices.filter((d) => d.runningRelease === '1').length;
    assert.equal(onRelease1, 2);
    const text = async (selector: string) => (await page.locator(selector).textContent())?.trim() ?? '';
    await eventually(async () => {
      assert.match(await text('[data-testid="count-devices"] .value'), new RegExp(`^${devices.length}$`));
      assert.match(await text('[data-testid="count-online"] .value'), new RegExp(`^${online}$`));
      assert.equal(await text('[data-testid="by-release"] td[data-release="1"]'), String(onRelease1));
    }, 'the overview shows the API counts');
    await screenshot(page, 'overview');
    const phone = await browser.newContext({
      viewport: { width: 360, height: 780 },
      storageState: await context.storageState(),
    });
    const small = await phone.newPage();
    await small.goto(`${api.url}/devices`);
    await small.getByText('meter-1').waitFor();
    await screenshot(small, 'devices-360px');
    const width = await small.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 360, `the device list fits a 360 px phone (it is ${width} px wide)`);
    await phone.close();
    await context.close();
  });

  it('pins a device from its page: the API shows the pin and the page shows it without a reload', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    // Everything the pages load comes from the API's own origin, and nothing breaks the Content-Security-Policy.
    const foreign: string[] = [];
    const refused: string[] = [];
    page.on('request', (request) => {
      if (new URL(request.url()).origin !== new URL(api.url).origin && !request.url().startsWith('data:'))
        foreign.push(request.url());
    });
    page.on('console', (message) => {
      if (/Content.Security.Policy|Refused to/i.test(message.text())) refused.push(message.text());
    });
    await logIn(page, api.url, 'admin', ADMIN_PASSWORD);
    await page.getByRole('link', { name: 'Devices' }).click();
    await page.getByRole('searchbox').fill('roof');
    await eventually(async () => assert.equal(await page.locator('tbody tr').count(), 1), 'the search finds one');
    await screenshot(page, 'devices');
    await page.evaluate(() => {
      (window as unknown as { notReloaded: boolean }).notReloaded = true;
    });
    await page.getByRole('link', { name: 'meter-1' }).click();
    await page.getByTestId('pinned-release').getByText('follows its fleet').waitFor();
    await page.getByLabel('Release').selectOption('2');
    await page.getByRole('button', { name: 'Pin', exact: true }).click();
    await eventually(
      async () => assert.equal((await api.device(DEVICES[0]!)).pinnedRelease, '2'),
      'the API has the pin',
    );
    await eventually(
      async () => assert.equal((await page.getByTestId('pinned-release').textContent())?.trim(), '2'),
      'the page shows the pin',
    );
    assert.equal((await page.getByTestId('target-release').textContent())?.trim(), '2');
    assert.equal(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded), true);
    await page.getByRole('heading', { name: 'Audit trail' }).waitFor();
    await page.getByText('device.pin').first().waitFor();
    await screenshot(page, 'device');
    for (const [link, name] of [
      ['Releases', 'releases'],
      ['Audit log', 'audit'],
      ['Admin', 'admin'],
    ] as const) {
      await page.getByRole('link', { name: link }).click();
      await page.getByRole('heading', { level: 1 }).waitFor();
      await page.getByText('Loading…').first().waitFor({ state: 'detached' });
      await screenshot(page, name);
    }
    assert.deepEqual(foreign, [], 'requests to other hosts');
    assert.deepEqual(refused, [], 'Content-Security-Policy violations');
    await context.close();
  });

  it('a viewer sees no logs and no admin pages, and the API refuses them too', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    // With the keyboard only: Tab to each field, Enter to send, Tab to the navigation, Enter to follow a link.
    await page.goto(api.url);
    await page.getByLabel('User name').waitFor();
    await page.keyboard.press('Tab');
    await page.keyboard.type('vera');
    await page.keyboard.press('Tab');
    await page.keyboard.type(VIEWER_PASSWORD);
    await page.keyboard.press('Enter');
    await page.getByRole('navigation', { name: 'pages' }).waitFor();
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Skip to content');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Devices');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Devices', level: 1 }).waitFor();
    const nav = page.getByRole('navigation', { name: 'pages' });
    assert.equal(await nav.getByRole('link', { name: 'Admin' }).count(), 0);
    assert.equal(await nav.getByRole('link', { name: 'Audit log' }).count(), 0);
    await page.goto(`${api.url}/admin`);
    await page.getByTestId('not-allowed').waitFor();
    await screenshot(page, 'viewer-admin');
    await page.goto(`${api.url}/devices/${DEVICES[0]}`);
    await page.getByRole('heading', { name: 'Services' }).waitFor();
    assert.equal(await page.getByRole('heading', { name: 'Logs' }).count(), 0);
    assert.equal(await page.getByRole('heading', { name: 'Actions' }).count(), 0);
    const statuses = await page.evaluate(
      async (urls) => Promise.all(urls.map(async (u) => (await fetch(u)).status)),
      [`/v1/devices/${DEVICES[0]}/logs/follow`, `/v1/devices/${DEVICES[0]}/logs`, '/v1/users', '/v1/audit'],
    );
    assert.deepEqual(statuses, [403, 403, 403, 403]);
    await context.close();
  });

  it('refuses a cookie-authenticated change without the session CSRF token', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await logIn(page, api.url, 'admin', ADMIN_PASSWORD);
    const uuid = DEVICES[1]!;
    const attempt = (headers: Record<string, string>) =>
      page.evaluate(
        async ({ url, headers }) => {
          const response = await fetch(url, {
            method: 'POST',
            headers: { 'content-type': 'application/json', ...headers },
            body: JSON.stringify({ release: '2' }),
          });
          return { status: response.status, body: await response.text() };
        },
        { url: paths.devicePin(uuid), headers },
      );
    const without = await attempt({});
    assert.equal(without.status, 403, without.body);
    assert.match(without.body, /X-CSRF-Token/);
    const wrong = await attempt({ [CSRF_HEADER]: 'not-the-token' });
    assert.equal(wrong.status, 403, wrong.body);
    assert.equal((await api.device(uuid)).pinnedRelease ?? null, null, 'neither attempt pinned the device');
    // The same cookie from outside the browser, as a forged request carries it: refused too.
    const cookie = await sessionCookieOf(context);
    const forged = await fetch(`${api.url}${paths.devicePin(uuid)}`, {
      method: 'POST',
      headers: { cookie: `${SESSION_COOKIE}=${cookie}`, 'content-type': 'application/json' },
      body: JSON.stringify({ release: '2' }),
    });
    assert.equal(forged.status, 403, await forged.text());
    // With the session's own token (what the page got at login) the same request goes through.
    const token = await page.evaluate(
      async () => ((await (await fetch('/v1/auth/session')).json()) as { csrfToken: string }).csrfToken,
    );
    const good = await attempt({ [CSRF_HEADER]: token });
    assert.equal(good.status, 200, good.body);
    assert.equal((await api.device(uuid)).pinnedRelease, '2');
    // Scripts keep using API tokens, with no CSRF token.
    await api.admin.trackFleet(uuid);
    assert.equal((await api.device(uuid)).pinnedRelease ?? null, null);
    await context.close();
  });

  it('never adopts a session id planted before login (session fixation), and logout ends the session', async () => {
    // An id the attacker chose and planted in the victim's browser: the login makes its own, and the planted one
    // opens nothing.
    const planted = 'attacker-chosen-session-id';
    const context = await browser.newContext();
    await context.addCookies([{ name: SESSION_COOKIE, value: planted, url: api.url }]);
    const page = await context.newPage();
    await logIn(page, api.url, 'admin', ADMIN_PASSWORD);
    const after = await sessionCookieOf(context);
    assert.ok(after !== undefined && after !== planted, 'the login set a new session id');
    assert.equal(await sessionStatus(api, planted), 401);
    assert.equal(await sessionStatus(api, after), 200);
    const cookie = (await context.cookies()).find((c) => c.name === SESSION_COOKIE);
    assert.equal(cookie?.httpOnly, true);
    assert.equal(cookie?.sameSite, 'Strict');
    assert.equal(await page.evaluate(() => document.cookie.includes('skiff_session')), false);
    // A live session id the browser came to the login with is ended by it, never carried on.
    const earlier = await loginCookie(api, 'vera', VIEWER_PASSWORD);
    const relogin = await fetch(`${api.url}${pathOf(ROUTES.login)}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', cookie: `${SESSION_COOKIE}=${earlier}` },
      body: JSON.stringify({ user: 'vera', password: VIEWER_PASSWORD }),
    });
    assert.equal(relogin.status, 200, await relogin.text());
    const fresh = /skiff_session=([^;]+)/.exec(relogin.headers.get('set-cookie') ?? '')?.[1];
    assert.ok(fresh !== undefined && fresh !== earlier);
    assert.equal(await sessionStatus(api, earlier), 401, 'the session the login replaced has ended');
    assert.equal(await sessionStatus(api, fresh), 200);
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByLabel('User name').waitFor();
    assert.equal(await sessionStatus(api, after), 401, 'logout ended the session');
    await context.close();
  });

  it('a user sets a first password with an invite code from skiff user invite', async () => {
    await api.admin.createUser({ name: 'ivy', role: 'operator' });
    const invite = JSON.parse(await skiff(api, 'user', 'invite', 'ivy', '--json')) as { code: string };
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(api.url);
    await page.getByRole('button', { name: 'I have an invite code' }).click();
    await page.getByLabel('User name').fill('ivy');
    await page.getByLabel('Invite code').fill(invite.code);
    await page.getByLabel(/New password/).fill('ivy chose this password');
    await page.getByRole('button', { name: 'Set password and log in' }).click();
    await page.getByRole('navigation', { name: 'pages' }).waitFor();
    assert.match((await page.locator('.who').textContent()) ?? '', /ivy \(operator\)/);
    await context.close();
    // The code is used up.
    const again = await fetch(`${api.url}${pathOf(ROUTES.redeemInvite)}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user: 'ivy', code: invite.code, password: 'another password here' }),
    });
    assert.equal(again.status, 401, await again.text());
  });

  it("an admin setting a user's password ends that user's sessions", async () => {
    const cookie = await loginCookie(api, 'vera', VIEWER_PASSWORD);
    assert.equal(await sessionStatus(api, cookie), 200);
    await api.admin.setPassword('vera', VIEWER_PASSWORD);
    assert.equal(await sessionStatus(api, cookie), 401);
  });

  it('limits failed logins per user, then per address', async () => {
    const login = async (user: string, password: string) => {
      const response = await fetch(`${api.url}${pathOf(ROUTES.login)}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ user, password }),
      });
      return { status: response.status, retryAfter: response.headers.get('retry-after'), text: await response.text() };
    };
    await api.admin.createUser({ name: 'rita', role: 'viewer' });
    await api.admin.setPassword('rita', 'rita has a good password');
    for (let i = 0; i < 5; i++) assert.equal((await login('rita', `guess ${i}`)).status, 401);
    const blocked = await login('rita', 'rita has a good password');
    assert.equal(blocked.status, 429, blocked.text);
    assert.ok(Number(blocked.retryAfter) > 0, `Retry-After: ${blocked.retryAfter}`);
    // Another user from the same address still gets in: the user's limit is the user's.
    assert.equal((await login('vera', VIEWER_PASSWORD)).status, 200);
    // Guessing across many user names hits the address's limit, whichever names they are.
    let status = 0;
    for (let i = 0; i < ADDRESS_LIMIT && status !== 429; i++) status = (await login(`nobody-${i}`, 'guess')).status;
    assert.equal(status, 429);
    assert.equal((await login('admin', ADMIN_PASSWORD)).status, 429, 'the address is blocked for every user');
  });
});

describe('dashboard logins behind a reverse proxy (SKIFF_TRUST_PROXY)', function () {
  this.timeout(180_000);
  let api: ApiServer;

  before(async () => {
    api = await ApiServer.start({
      redisUrl: null,
      trustProxy: true,
      loginLimits: { address: { max: 2, windowMs: 15 * 60_000 } },
    });
    await api.admin.setPassword('admin', ADMIN_PASSWORD);
  });

  after(async () => {
    await api?.stop();
  });

  const login = async (password: string, headers: Record<string, string>) => {
    const response = await fetch(`${api.url}${pathOf(ROUTES.login)}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ user: 'admin', password }),
    });
    await response.arrayBuffer();
    return { status: response.status, cookie: response.headers.get('set-cookie') ?? '' };
  };

  it('sets a Secure cookie when the proxy says the client came over https, and counts failures per client', async () => {
    const secure = await login(ADMIN_PASSWORD, { 'x-forwarded-proto': 'https', 'x-forwarded-for': '198.51.100.1' });
    assert.equal(secure.status, 200);
    assert.match(secure.cookie, /skiff_session=[^;]+;.*\bsecure\b/i);
    assert.match(secure.cookie, /httponly/i);
    assert.match(secure.cookie, /samesite=strict/i);
    const plain = await login(ADMIN_PASSWORD, { 'x-forwarded-for': '198.51.100.1' });
    assert.equal(plain.status, 200);
    assert.doesNotMatch(plain.cookie, /\bsecure\b/i);
    // Two failures from one client block it, whatever it puts in front of the address the proxy appended...
    for (const forged of ['203.0.113.9', '203.0.113.10'])
      assert.equal((await login('wrong', { 'x-forwarded-for': `${forged}, 198.51.100.7` })).status, 401);
    assert.equal((await login(ADMIN_PASSWORD, { 'x-forwarded-for': '203.0.113.11, 198.51.100.7' })).status, 429);
    // ...and not another client behind the same proxy.
    assert.equal((await login(ADMIN_PASSWORD, { 'x-forwarded-for': '198.51.100.8' })).status, 200);
  });
});
