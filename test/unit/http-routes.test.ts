// The route declarations (protocol/http/) as clients use them: paths built with every parameter encoded, each
// method and path declared once, and the device's routes loadable without the people's ones, which a supervisor
// must not pay for in memory.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { DEVICE_API_ROUTES } from '../../protocol/http/device-api.js';
import { osPaths, paths } from '../../protocol/http/paths.js';
import { fillPath, pathOf, pathParameters, routeLabel } from '../../protocol/http/route.js';
import { routeList, ROUTES } from '../../protocol/http/routes.js';
import { distRoot } from '../../harness/env.js';

/** The compiled modules `entry` imports, directly or not (relative imports only: the tree's own modules). */
function moduleGraph(entry: string): Set<string> {
  const seen = new Set<string>();
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    for (const match of text.matchAll(/^(?:import|export)\s(?:[^'";]*?\sfrom\s)?['"](\.[^'"]+)['"]/gm))
      visit(path.resolve(path.dirname(file), match[1]!));
  };
  visit(path.join(distRoot, entry));
  return new Set([...seen].map((file) => path.relative(distRoot, file)));
}

describe('route declarations', () => {
  it('build paths with each parameter URL-encoded', () => {
    assert.equal(pathOf(ROUTES.info), '/v1/info');
    assert.equal(
      pathOf(ROUTES.getRelease, { fleet: 'meters', release: '1.0 beta/2' }),
      '/v1/fleets/meters/releases/1.0%20beta%2F2',
    );
    assert.equal(paths.userToken('dora', 'tok?1'), '/v1/users/dora/tokens/tok%3F1');
    assert.equal(osPaths.bundle('aaaa', 'r1'), '/v1/device/aaaa/os-releases/r1/bundle');
  });

  it('name the parameter a path is built without', () => {
    assert.throws(() => fillPath(ROUTES.revokeToken.path, { name: 'dora' }), /\/v1\/users\/:name\/tokens\/:id.*:id/);
  });

  it('declare each method and path once', () => {
    const labels = routeList().map(routeLabel);
    assert.deepEqual(
      labels.filter((label, i) => labels.indexOf(label) !== i),
      [],
    );
  });

  it('give every device route its device in the path', () => {
    for (const route of Object.values(DEVICE_API_ROUTES)) {
      if (route.access === 'device') assert.equal(pathParameters(route.path)[0], 'uuid', routeLabel(route));
      assert.ok(route.path.startsWith('/v1/device/'), routeLabel(route));
    }
  });

  it("keep the people's routes and schemas out of what the supervisor's API client loads", () => {
    const loaded = moduleGraph('supervisor/online/api-client.js');
    assert.ok(loaded.has(path.join('protocol', 'http', 'device-api.js')), 'the client builds on the device routes');
    const peoples = [
      'protocol/http/routes.js',
      'protocol/http/paths.js',
      'protocol/http/fleets.js',
      'protocol/api.js',
      'protocol/access.js',
      'protocol/fleet-config.js',
      'protocol/os-release.js',
      'protocol/provisioning-keys.js',
      'protocol/device-detail.js',
    ].map((file) => path.join(...file.split('/')));
    assert.deepEqual(
      peoples.filter((file) => loaded.has(file)),
      [],
    );
  });
});
