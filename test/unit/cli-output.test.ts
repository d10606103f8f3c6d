import assert from 'node:assert/strict';
import type { DeviceSummary } from '../../protocol/api.js';
import type { DeviceDetail } from '../../protocol/device-detail.js';
import { formatBytes, relativeTime, renderTable, truncate, utcTime } from '../../cli/views/output.js';
import { deviceDetail, devicesTable } from '../../cli/views/api-objects.js';

const NOW = new Date('2025-11-23T12:00:00.000Z');
const ago = (seconds: number): string => new Date(NOW.getTime() - seconds * 1000).toISOString();

describe('cli output', () => {
  describe('relativeTime', () => {
    it('says how long ago in the largest whole unit', () => {
      assert.equal(relativeTime(ago(12), NOW), '12s ago');
      assert.equal(relativeTime(ago(59), NOW), '59s ago');
      assert.equal(relativeTime(ago(60), NOW), '1m ago');
      assert.equal(relativeTime(ago(3599), NOW), '59m ago');
      assert.equal(relativeTime(ago(3 * 3600 + 5), NOW), '3h ago');
      assert.equal(relativeTime(ago(2 * 86_400 + 7), NOW), '2d ago');
    });

    it('handles never, now, the future and unparsable input', () => {
      assert.equal(relativeTime(null, NOW), 'never');
      assert.equal(relativeTime(NOW.toISOString(), NOW), 'just now');
      assert.equal(relativeTime(ago(-5), NOW), 'in 5s');
      assert.equal(relativeTime('yesterday-ish', NOW), 'yesterday-ish');
    });
  });

  it('formats bytes in decimal units and time in UTC', () => {
    assert.equal(formatBytes(0), '0 B');
    assert.equal(formatBytes(999), '999 B');
    assert.equal(formatBytes(1500), '1.5 kB');
    assert.equal(formatBytes(2_000_000), '2.0 MB');
    assert.equal(utcTime('2025-11-23T14:10:05.123+01:00'), '2025-11-23 13:10:05Z');
  });

  it('truncates to the width with an ellipsis and folds line breaks', () => {
    assert.equal(truncate('short', 10), 'short');
    assert.equal(truncate('0123456789abc', 10), '012345678…');
    assert.equal(truncate('line one\n  line two', 40), 'line one line two');
  });

  it('renders aligned borderless tables with "-" for missing cells and no trailing spaces', () => {
    const text = renderTable(
      ['A', 'LONGER'],
      [
        ['x', null],
        ['wide cell', 7],
      ],
    );
    assert.equal(text, 'A           LONGER\nx           -\nwide cell   7\n');
  });

  describe('devices table', () => {
    const devices: DeviceSummary[] = [
      {
        uuid: '4f1c2a9be0d34f7c8a11',
        shortId: 'K7M2Q9XD',
        name: 'meter-kitchen',
        fleet: 'meters',
        deviceType: 'rpi4',
        online: true,
        lastSeen: ago(12),
        targetRelease: '1.2.0',
        runningRelease: '1.2.0',
        updateStatus: 'converged',
        error: null,
      },
      {
        uuid: '9a7e55d0c1b24e88b3f2',
        name: 'meter-barn',
        fleet: 'meters',
        deviceType: 'rpi4',
        online: false,
        lastSeen: null,
        targetRelease: '1.2.0',
        runningRelease: null,
        updateStatus: 'error',
        error: 'pulling 127.0.0.1:5000/meters/reader@sha256:abc failed: connection reset by peer',
      },
    ];

    it('shows one row per device with its short id (else a short uuid), status, releases, age and a cut error', () => {
      const lines = devicesTable(devices, NOW).trimEnd().split('\n');
      assert.equal(lines.length, 3);
      assert.deepEqual(lines[0]!.split(/\s{2,}/), [
        'ID',
        'NAME',
        'FLEET',
        'STATUS',
        'TARGET',
        'RUNNING',
        'UPDATE',
        'LAST SEEN',
        'ERROR',
      ]);
      assert.deepEqual(lines[1]!.split(/\s{2,}/), [
        'K7M2Q9XD',
        'meter-kitchen',
        'meters',
        'online',
        '1.2.0',
        '1.2.0',
        'converged',
        '12s ago',
        '-',
      ]);
      const barn = lines[2]!.split(/\s{2,}/);
      assert.deepEqual(barn.slice(0, 8), [
        '9a7e55d',
        'meter-barn',
        'meters',
        'offline',
        '1.2.0',
        '-',
        'error',
        'never',
      ]);
      assert.equal(barn[8]!.length, 40);
      assert.ok(barn[8]!.startsWith('pulling 127.0.0.1:5000/') && barn[8]!.endsWith('…'));
      // Columns line up: every row starts its NAME column where the header does.
      const nameColumn = lines[0]!.indexOf('NAME');
      for (const line of lines) assert.match(line.slice(nameColumn), /^(NAME|meter-)/);
    });
  });

  describe('device detail', () => {
    const base: DeviceDetail = {
      uuid: '4f1c2a9be0d34f7c8a11',
      name: 'meter-kitchen',
      fleet: 'meters',
      deviceType: 'rpi4',
      online: true,
      lastSeen: ago(30),
      targetRelease: '1.2.0',
      runningRelease: null,
      updateStatus: 'downloading',
      error: null,
      lastReport: null,
    };

    it('says so when the device never reported', () => {
      const text = deviceDetail(base, NOW);
      assert.match(text, /^UUID: +4f1c2a9be0d34f7c8a11$/m);
      assert.match(text, /^Last seen: +2025-11-23 11:59:30Z \(30s ago\)$/m);
      assert.match(text, /No state report yet\.\n$/);
    });

    it('lists the state of every reported service', () => {
      const text = deviceDetail(
        {
          ...base,
          lastReport: {
            supervisorVersion: '0.1.0',
            updateStatus: 'downloading',
            targetReleaseId: 'r2',
            releaseId: null,
            error: null,
            reportedAt: ago(30),
            services: [
              {
                name: 'reader',
                releaseId: 'r1',
                image: 'reg/meters/reader@sha256:aa',
                containerId: '0123456789abcdef0',
                state: 'running',
                health: 'healthy',
                exitCode: null,
              },
              {
                name: 'tunnel',
                releaseId: null,
                image: 'reg/meters/tunnel@sha256:bb',
                containerId: null,
                state: 'missing',
                health: null,
                exitCode: null,
              },
            ],
          },
        },
        NOW,
      );
      assert.match(text, /^Supervisor: +0\.1\.0$/m);
      assert.match(text, /^reader +running +healthy +- +r1 +0123456789ab +reg\/meters\/reader@sha256:aa$/m);
      assert.match(text, /^tunnel +missing +- +- +- +- +reg\/meters\/tunnel@sha256:bb$/m);
    });
  });
});
