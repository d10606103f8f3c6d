// The pure parts of `skiff push --local`: the device address a person types, and what a device state says about
// the local target being followed.
import assert from 'node:assert/strict';
import type { LocalState } from '../../protocol/local-api.js';
import type { StateReport } from '../../protocol/state-report.js';
import { judge } from '../../cli/local/follow.js';
import { localApiUrl, resolveLocalKey } from '../../cli/local/client.js';

function state(report: Partial<StateReport>): LocalState {
  return {
    uuid: 'device-1',
    localMode: true,
    apiReachable: null,
    pushConnected: false,
    report: {
      supervisorVersion: '0.1.0',
      updateStatus: 'converged',
      targetReleaseId: null,
      releaseId: null,
      services: [],
      error: null,
      reportedAt: '2025-01-01T00:00:00.000Z',
      ...report,
    },
  };
}

describe('cli local mode', () => {
  describe('localApiUrl', () => {
    it('adds the local API port and scheme to a bare host', () => {
      assert.equal(localApiUrl('10.0.0.5'), 'http://10.0.0.5:48484');
      assert.equal(localApiUrl('pi.local:8080'), 'http://pi.local:8080');
      assert.equal(localApiUrl('fe80::1'), 'http://[fe80::1]:48484');
      assert.equal(localApiUrl('[fe80::1]:9000'), 'http://[fe80::1]:9000');
      assert.equal(localApiUrl('https://pi.example:443/'), 'https://pi.example');
    });

    it('refuses what is not just a host and port', () => {
      assert.throws(() => localApiUrl('http://pi/v1/state'), /must be just a host and port/);
      assert.throws(() => localApiUrl('ftp://pi'), /must be http:\/\/ or https:\/\//);
      assert.throws(() => localApiUrl('pi:notaport'), /is not understood/);
    });
  });

  describe('resolveLocalKey', () => {
    it('takes --key, then the environment, and says where the key is when there is none', async () => {
      assert.equal(await resolveLocalKey({ key: ' k1 ' }, { SKIFF_LOCAL_API_KEY: 'k2' }), 'k1');
      assert.equal(await resolveLocalKey({}, { SKIFF_LOCAL_API_KEY: 'k2' }), 'k2');
      await assert.rejects(resolveLocalKey({}, {}), /DATA_DIR\/local-api\.key/);
      await assert.rejects(resolveLocalKey({ key: 'a', keyFile: 'b' }, {}), /either --key or --key-file/);
    });
  });

  describe('judge', () => {
    const service = {
      releaseId: 'local-1',
      image: 'r/a@sha256:x',
      containerId: 'c1',
      health: null,
      exitCode: null,
    } as const;

    it('is done only when the target is the followed one and every service runs it', () => {
      assert.equal(judge(state({ targetReleaseId: 'local-1', releaseId: 'fleet-1' }), 'local-1', null).kind, 'waiting');
      assert.equal(judge(state({ targetReleaseId: 'local-0', releaseId: 'local-0' }), 'local-1', null).kind, 'waiting');
      const done = judge(
        state({
          targetReleaseId: 'local-1',
          releaseId: 'local-1',
          services: [{ ...service, name: 'a', state: 'running' }],
        }),
        'local-1',
        null,
      );
      assert.equal(done.kind, 'running');
    });

    it('reports an error of the followed target, but not the one left from before it arrived', () => {
      const failing = state({
        targetReleaseId: 'local-1',
        updateStatus: 'error',
        error: 'fetch image r/a failed: 404',
      });
      assert.deepEqual(judge(failing, 'local-1', null), {
        kind: 'error',
        state: failing,
        error: 'fetch image r/a failed: 404',
      });
      const stale = judge(failing, 'local-1', 'fetch image r/a failed: 404');
      assert.equal(stale.kind, 'waiting');
      assert.match(stale.kind === 'waiting' ? stale.line : '', /^pending: no services$/);
    });

    it('shows what the device is doing while it waits', () => {
      const verdict = judge(
        state({
          targetReleaseId: 'local-1',
          updateStatus: 'downloading',
          progress: { imagesPresent: 1, imagesTotal: 2 },
          services: [{ ...service, name: 'a', state: 'missing', containerId: null }],
        }),
        'local-1',
        null,
      );
      assert.deepEqual(verdict, { kind: 'waiting', line: 'downloading (1/2 images): a missing' });
    });
  });
});
