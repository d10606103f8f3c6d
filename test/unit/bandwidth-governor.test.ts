// The governor sets the device's token bucket from the target's config: the plain cap, a schedule period in force,
// and the next minute boundary as the moment a schedule is looked at again.
import assert from 'node:assert/strict';
import { createLogger } from '../../lib/logger.js';
import { BandwidthGovernor, msToNextMinute } from '../../supervisor/images/bandwidth/governor.js';
import { TokenBucket } from '../../supervisor/images/bandwidth/token-bucket.js';

const log = createLogger('test-governor');
log.level = 'silent';

describe('bandwidth governor', () => {
  let governor: BandwidthGovernor | undefined;
  afterEach(() => governor?.stop());

  it('follows the plain cap and drops it with the target', () => {
    const bucket = new TokenBucket(null);
    governor = new BandwidthGovernor({ bucket, log });
    governor.follow({ bandwidthCapBytesPerSecond: 50_000, bandwidthSchedule: [] });
    assert.equal(bucket.currentRate(), 50_000);
    governor.follow({ bandwidthCapBytesPerSecond: null });
    assert.equal(bucket.currentRate(), null);
    governor.follow({ bandwidthCapBytesPerSecond: 70_000 });
    governor.follow(null);
    assert.equal(bucket.currentRate(), null);
  });

  it('applies the schedule period in force, else the plain cap', () => {
    const bucket = new TokenBucket(null);
    let now = new Date('2030-01-01T23:30:00Z');
    governor = new BandwidthGovernor({ bucket, log, now: () => now });
    const config = {
      bandwidthCapBytesPerSecond: 10_000,
      bandwidthSchedule: [{ from: '22:00', to: '06:00', timezone: 'UTC', bytesPerSecond: null }],
    };
    governor.follow(config);
    assert.equal(bucket.currentRate(), null, 'night: uncapped');
    now = new Date('2030-01-02T07:00:00Z');
    governor.follow(config);
    assert.equal(bucket.currentRate(), 10_000, 'day: the plain cap');
  });

  it('looks again at the next minute boundary', () => {
    assert.equal(msToNextMinute(new Date('2030-01-01T10:00:59.250Z')), 750);
    assert.equal(msToNextMinute(new Date('2030-01-01T10:00:00.000Z')), 60_000);
  });
});
