// Which config vars each service gets: device service > device > fleet service > fleet, and a target without any
// scoped var keeps its exact form (so no container's config hash moves when this arrived).
import assert from 'node:assert/strict';
import { DEFAULT_FLEET_REVIEW } from '../../protocol/release-review.js';
import { deviceConfigOf } from '../../registry-api/fleet/target-state.js';
import type { FleetRecord } from '../../registry-api/store/index.js';

const fleet: FleetRecord = {
  name: 'meters',
  deviceType: 'raspberrypi4-64',
  deviceTypes: ['raspberrypi4-64'],
  policy: { mode: 'latest' },
  pollIntervalSeconds: 60,
  settings: {},
  review: DEFAULT_FLEET_REVIEW,
  createdAt: '2026-12-01T00:00:00.000Z',
  archivedAt: null,
};

describe('service-scoped config vars', () => {
  it('leaves serviceEnv out when no var is scoped', () => {
    const config = deviceConfigOf({ fleet, fleetVars: { A: '1' }, deviceSettings: {}, deviceVars: {} });
    assert.deepEqual(config.env, { A: '1' });
    assert.equal('serviceEnv' in config, false);
  });

  it('orders the levels device service > device > fleet service > fleet', () => {
    const config = deviceConfigOf({
      fleet,
      fleetVars: { REGION: 'fleet', LEVEL: 'fleet', ONLY_FLEET: 'x' },
      deviceSettings: {},
      deviceVars: { LEVEL: 'device' },
      fleetServiceVars: { reader: { REGION: 'fleet-reader', LEVEL: 'fleet-reader' }, uplink: { TOPIC: 't' } },
      deviceServiceVars: { reader: { PORT: '/dev/ttyUSB1' } },
    });
    assert.deepEqual(config.env, { LEVEL: 'device', ONLY_FLEET: 'x', REGION: 'fleet' });
    assert.deepEqual(config.serviceEnv, {
      // LEVEL: the device's unscoped var beats the fleet's scoped one.
      reader: { PORT: '/dev/ttyUSB1', REGION: 'fleet-reader' },
      uplink: { TOPIC: 't' },
    });
    const deviceWins = deviceConfigOf({
      fleet,
      fleetVars: {},
      deviceSettings: {},
      deviceVars: { LEVEL: 'device' },
      deviceServiceVars: { reader: { LEVEL: 'device-reader' } },
    });
    assert.deepEqual(deviceWins.serviceEnv, { reader: { LEVEL: 'device-reader' } });
  });

  it('leaves out a scoped var equal to what every service gets', () => {
    const config = deviceConfigOf({
      fleet,
      fleetVars: { REGION: 'eu' },
      deviceSettings: {},
      deviceVars: {},
      fleetServiceVars: { reader: { REGION: 'eu' } },
    });
    assert.equal('serviceEnv' in config, false);
  });
});
