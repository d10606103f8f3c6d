// Caps of a few kB/s (a metered link, the delta-progress test's 1,500 B/s): the cap must hold from the first second
// for a small blob (a delta patch) as for a large one, also when the cap is set on a bucket that was uncapped.
import assert from 'node:assert/strict';
import { TokenBucket } from '../../supervisor/images/bandwidth/token-bucket.js';
import { fakeClock } from '../../harness/fake-clock.js';

/** Takes `size` bytes the way the downloader does (chunk by chunk); returns when each chunk was granted. */
async function takeBlob(
  bucket: TokenBucket,
  clock: { t: number },
  size: number,
): Promise<{ t: number; bytes: number }[]> {
  const grants: { t: number; bytes: number }[] = [];
  for (let done = 0; done < size; ) {
    const want = Math.min(bucket.chunkSize(), size - done);
    await bucket.take(want);
    grants.push({ t: clock.t, bytes: want });
    done += want;
  }
  return grants;
}

describe('token bucket under a low cap', () => {
  for (const rate of [1, 100, 1_500, 10_000, 40_000]) {
    it(`${rate} B/s set on an uncapped bucket: no chunk exceeds a second of the cap, the first second holds`, async () => {
      const clock = fakeClock();
      const bucket = new TokenBucket(null, clock);
      bucket.setRate(rate);
      assert.ok(bucket.chunkSize() <= rate, `chunk ${bucket.chunkSize()} at ${rate} B/s`);
      const size = Math.max(8_269, rate * 20);
      const grants = await takeBlob(bucket, clock, size);
      const firstSecond = grants.filter((g) => g.t <= 1000).reduce((s, g) => s + g.bytes, 0);
      assert.ok(firstSecond <= Math.max(1, 1.25 * rate), `first second got ${firstSecond} bytes at ${rate} B/s`);
      // At every grant: no more than a quarter second of the cap ahead of the rate.
      let granted = 0;
      for (const g of grants) {
        granted += g.bytes;
        assert.ok(
          granted <= Math.floor(rate / 4) + (rate * g.t) / 1000 + 1e-6,
          `${granted} bytes granted by ${g.t} ms at ${rate} B/s`,
        );
      }
      // And not much slower than the cap either.
      assert.ok(size / (clock.t / 1000) >= rate * 0.95, `${size} bytes in ${clock.t} ms at ${rate} B/s`);
    });
  }

  it('a patch of 8,269 bytes at 1,500 B/s takes over five seconds, not one request at once', async () => {
    const clock = fakeClock();
    const bucket = new TokenBucket(null, clock);
    bucket.setRate(1_500);
    const grants = await takeBlob(bucket, clock, 8_269);
    assert.ok(grants.length >= 5, `${grants.length} requests`);
    assert.ok(clock.t >= (8_269 - 375) / 1.5, `done after ${clock.t} ms`);
  });

  it('between 16 KiB/s and 64 KiB/s chunks still reach 16 KiB (few request headers) within one second of the cap', () => {
    const bucket = new TokenBucket(32 * 1024, fakeClock());
    assert.equal(bucket.chunkSize(), 16 * 1024);
    bucket.setRate(8 * 1024);
    assert.equal(bucket.chunkSize(), 8 * 1024);
    bucket.setRate(1024 * 1024);
    assert.equal(bucket.chunkSize(), 256 * 1024);
  });
});
