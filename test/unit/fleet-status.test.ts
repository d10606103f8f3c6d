// The words and counts of a fleet you can read: which events a report means compared with the one before, how a
// device's health and update read, and when its update window opens in the fleet's zone.
import assert from 'node:assert/strict';
import type { DeviceSummary } from '../../protocol/api.js';
import type { ServiceReport, StateReport } from '../../protocol/state-report.js';
import { healthOf, openingText, runningOf, updateStateOf } from '../../registry-api/devices/fleet-status.js';
import { reportTransitions } from '../../registry-api/events/report-events.js';

function service(name: string, releaseId: string, extra: Partial<ServiceReport> = {}): ServiceReport {
  return { name, releaseId, image: 'img', containerId: 'c', state: 'running', health: null, exitCode: null, ...extra };
}

function report(extra: Partial<StateReport> = {}): StateReport {
  return {
    supervisorVersion: '1',
    updateStatus: 'converged',
    targetReleaseId: 'r1',
    releaseId: 'r1',
    services: [service('reader', 'r1')],
    error: null,
    reportedAt: '2026-06-01T00:00:00.000Z',
    ...extra,
  };
}

const summary = (updateStatus: string | null): DeviceSummary => ({
  uuid: 'u',
  name: 'n',
  fleet: 'f',
  deviceType: 'generic-amd64',
  online: true,
  lastSeen: null,
  targetRelease: '2',
  runningRelease: null,
  updateStatus,
  error: null,
});

describe('fleet events of a report', () => {
  it('says started, done and failed once each, at the transitions', () => {
    const kinds = (before: StateReport | null, after: StateReport) =>
      reportTransitions(before, after).map((t) => t.kind);
    const downloading = report({ updateStatus: 'downloading', targetReleaseId: 'r2' });
    assert.deepEqual(kinds(report(), downloading), ['device.update.started']);
    assert.deepEqual(kinds(downloading, { ...downloading, updateStatus: 'applying' }), [], 'still the same update');
    const done = report({ targetReleaseId: 'r2', releaseId: 'r2', services: [service('reader', 'r2')] });
    assert.deepEqual(kinds(downloading, done), ['device.update.done']);
    assert.deepEqual(kinds(done, done), [], 'a repeated report is no news');
    const failed = { ...downloading, updateStatus: 'error' as const, error: 'disk full' };
    assert.deepEqual(kinds(downloading, failed), ['device.update.failed']);
    assert.deepEqual(kinds(failed, failed), []);
    assert.deepEqual(kinds(null, report()), [], "a device's first report says nothing changed");
  });

  it('says rollback once, and not done for a device back on an older release than its target', () => {
    const rolledBack = report({
      targetReleaseId: 'r2',
      releaseId: 'r1',
      rollback: { fromReleaseId: 'r2', toReleaseId: 'r1', reason: 'crash loop', at: '2026-06-01T00:01:00.000Z' },
    });
    const before = report({ updateStatus: 'applying', targetReleaseId: 'r2' });
    assert.deepEqual(
      reportTransitions(before, rolledBack).map((t) => t.kind),
      ['device.rollback'],
    );
    assert.deepEqual(reportTransitions(rolledBack, rolledBack), []);
  });
});

describe('fleet status words', () => {
  it('judges health by the worst service', () => {
    assert.equal(healthOf(null), 'unknown');
    assert.equal(healthOf(report()), 'healthy');
    const appBad = service('reader', 'r1', {
      appHealth: { ok: false, value: 0.4, detail: null, reportedAt: '2026-06-01T00:00:00.000Z' },
    });
    assert.equal(healthOf(report({ services: [appBad] })), 'app-unhealthy');
    assert.equal(healthOf(report({ services: [appBad, service('t', 'r1', { health: 'unhealthy' })] })), 'unhealthy');
    assert.equal(healthOf(report({ services: [appBad, service('t', 'r1', { restartLoop: true })] })), 'restart-loop');
  });

  it('says what runs midway through an update, service by service', () => {
    const versions = (id: string) => ({ r1: '1', r2: '2' })[id] ?? null;
    assert.equal(runningOf(report(), versions), '1');
    assert.equal(
      runningOf(report({ services: [service('reader', 'r2'), service('tunnel', 'r1')] }), versions),
      'reader 2, tunnel 1',
    );
  });

  it('reads a closed window as waiting, not as a stuck download', () => {
    const closed = report({
      updateStatus: 'downloading',
      updateWindow: { state: 'closed', downloadAllowed: false, applyAllowed: false, closesAt: null, nextOpening: null },
    });
    assert.equal(updateStateOf(summary('downloading'), closed), 'waiting-window');
    const downloadingAhead = report({
      updateStatus: 'downloading',
      updateWindow: { state: 'closed', downloadAllowed: true, applyAllowed: false, closesAt: null, nextOpening: null },
    });
    assert.equal(updateStateOf(summary('downloading'), downloadingAhead), 'downloading');
    assert.equal(
      updateStateOf(summary('applying'), { ...downloadingAhead, updateStatus: 'applying' }),
      'waiting-window',
    );
  });

  it("tells the window's opening in the fleet's zone, with the day when it is not within a day", () => {
    const now = new Date('2026-01-10T12:00:00.000Z');
    assert.equal(openingText('2026-01-11T01:00:00.000Z', 'Europe/Stockholm', now), '02:00 Europe/Stockholm');
    assert.equal(
      openingText('2026-07-11T00:00:00.000Z', 'Europe/Stockholm', now),
      'Sat 11 Jul, 02:00 Europe/Stockholm',
    );
    assert.equal(openingText('2026-01-11T01:00:00.000Z', 'Not/AZone', now), '01:00 UTC');
  });
});
