import assert from 'node:assert/strict';
import { TokenBucket } from '../../supervisor/images/bandwidth/token-bucket.js';
import { fakeClock } from '../../harness/fake-clock.js';

describe('token bucket', () => {
  it('holds the cap from the first second: at most a quarter second ahead, then exactly the rate', async () => {
    const clock = fakeClock();
    const rate = 500_000;
    const bucket = new TokenBucket(rate, clock);
    const chunk = bucket.chunkSize();
    assert.equal(chunk, 125_000);
    const granted: number[] = [];
    while (clock.t < 30_000) {
      await bucket.take(chunk);
      granted.push(clock.t);
    }
    const inFirstSecond = granted.filter((t) => t <= 1000).length * chunk;
    assert.ok(inFirstSecond <= 1.25 * rate + 1, `first second got ${inFirstSecond}`);
    const average = (granted.length * chunk) / (clock.t / 1000);
    assert.ok(Math.abs(average - rate) / rate < 0.01, `average ${average}`);
  });

  it('a lower cap holds at once; refunds return unused tokens', async () => {
    const clock = fakeClock();
    const bucket = new TokenBucket(1_000_000, clock);
    bucket.setRate(100_000);
    await bucket.take(25_000);
    await bucket.take(25_000);
    assert.equal(clock.t, 250);
    bucket.refund(25_000);
    await bucket.take(25_000);
    assert.equal(clock.t, 250);
  });

  it('uncapped: never waits, and asks for large chunks', async () => {
    const clock = fakeClock();
    const bucket = new TokenBucket(null, clock);
    await bucket.take(1e9);
    assert.equal(clock.t, 0);
    assert.ok(bucket.chunkSize() >= 1024 * 1024);
  });
});
