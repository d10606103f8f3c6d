// Which releases ask for host privileges: each kind of finding named once, allowed host paths matched by whole path
// components after `..` is resolved, and the meter-fleet template reviewed as the demo pushes it.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { normalizeCompose } from '../../protocol/compose/normalize.js';
import { hostPathAllowed, initialApproval, normalHostPath, reviewReasons } from '../../protocol/release-review.js';
import { repoRoot } from '../../harness/env.js';
import { serviceSpec } from '../../harness/supervisor-targets.js';

const IMAGE = `127.0.0.1:5000/meters/reader@sha256:${'c'.repeat(64)}`;

describe('release review', () => {
  it('names every host privilege a service asks for, once each', () => {
    const reasons = reviewReasons(
      [
        serviceSpec('a', IMAGE, {
          privileged: true,
          networkMode: 'host',
          devices: ['/dev/ttyUSB0:/dev/ttyUSB0'],
          capAdd: ['cap_sys_admin', 'NET_BIND_SERVICE', 'SYS_TIME'],
          securityOpt: ['seccomp=unconfined', 'no-new-privileges:true'],
          volumes: [
            { type: 'bind', source: '/etc', target: '/host-etc', readOnly: true },
            { type: 'volume', source: 'data', target: '/data', readOnly: false },
            { type: 'tmpfs', target: '/tmp', readOnly: false },
          ],
        }),
        serviceSpec('b', IMAGE),
      ],
      [],
    );
    assert.deepEqual(reasons, [
      'service a: privileged',
      'service a: network_mode host',
      'service a: host device "/dev/ttyUSB0:/dev/ttyUSB0"',
      'service a: cap_add "cap_sys_admin"',
      'service a: cap_add "SYS_TIME"',
      'service a: security_opt "seccomp=unconfined"',
      `service a: binds host path "/etc", not in the fleet's allowed host paths`,
    ]);
  });

  it('matches allowed host paths by whole components, after resolving . and ..', () => {
    const allowed = ['/var/lib/skiff/tunnel'];
    assert.equal(hostPathAllowed('/var/lib/skiff/tunnel', allowed), true);
    assert.equal(hostPathAllowed('/var/lib/skiff/tunnel/', allowed), true);
    assert.equal(hostPathAllowed('/var/lib/skiff/tunnel/keys', allowed), true);
    assert.equal(hostPathAllowed('/var/lib/skiff/tunnel-x', allowed), false);
    assert.equal(hostPathAllowed('/var/lib/skiff/tunnel/../../../../etc', allowed), false);
    assert.equal(hostPathAllowed('/var/lib/skiff', allowed), false);
    assert.equal(hostPathAllowed('relative/path', allowed), false);
    assert.equal(hostPathAllowed('/anything', ['/']), true);
    assert.equal(normalHostPath('/a/./b/../c//'), '/a/c');
  });

  it('holds by the policy: privileged only with reasons, always every release, never none', () => {
    assert.equal(initialApproval('privileged', []), 'not-required');
    assert.equal(initialApproval('privileged', ['service a: privileged']), 'pending');
    assert.equal(initialApproval('always', []), 'pending');
    assert.equal(initialApproval('never', ['service a: privileged']), 'not-required');
  });

  it('the meter-fleet template asks only for its tunnel key directory, which the demo fleet allows', () => {
    const compose = readFileSync(path.join(repoRoot, 'compose-templates', 'meter-fleet', 'docker-compose.yml'), 'utf8');
    const images = Object.fromEntries(['meter-reader', 'tunnel', 'logger'].map((s) => [s, IMAGE]));
    const { services } = normalizeCompose(compose, images);
    assert.deepEqual(reviewReasons(services, []), [
      `service tunnel: binds host path "/var/lib/skiff/tunnel", not in the fleet's allowed host paths`,
    ]);
    assert.deepEqual(reviewReasons(services, ['/var/lib/skiff/tunnel']), []);
  });
});
