// The freshness rule a device applies to every verified target: rollback (lower version), freeze (expiry), and the
// clock rule for a device without a real-time clock.
import assert from 'node:assert/strict';
import type { TargetIssue } from '../../protocol/target-state.js';
import {
  CLOCK_SKEW_MS,
  deviceNow,
  judgeFreshness,
  staleness,
  type AcceptedIssue,
} from '../../supervisor/target/freshness.js';

const HOUR = 3600_000;
const DAY = 24 * HOUR;
const T0 = Date.parse('2026-12-01T12:00:00.000Z');

function issue(version: number, issuedAtMs: number, validityMs = 7 * DAY): TargetIssue {
  return {
    version,
    issuedAt: new Date(issuedAtMs).toISOString(),
    expiresAt: new Date(issuedAtMs + validityMs).toISOString(),
  };
}

const accepted = (version: number, issuedAtMs: number): AcceptedIssue => ({ version, issuedAtMs });

describe('target freshness', () => {
  it('takes a higher version within its validity', () => {
    assert.deepEqual(judgeFreshness(issue(5, T0), accepted(4, T0 - DAY), T0 + HOUR, false), { fresh: true });
  });

  it('takes the first versioned target of a device that has accepted none', () => {
    assert.deepEqual(judgeFreshness(issue(1, T0), null, T0, false), { fresh: true });
  });

  it('refuses a target without an issued version', () => {
    const verdict = judgeFreshness(undefined, null, T0, false);
    assert.equal(verdict.fresh, false);
    assert.equal(!verdict.fresh && verdict.kind, 'unversioned');
  });

  it('refuses a lower version (an old target replayed), even one still within its validity', () => {
    const verdict = judgeFreshness(issue(3, T0 - HOUR), accepted(4, T0), T0, false);
    assert.equal(verdict.fresh, false);
    assert.equal(!verdict.fresh && verdict.kind, 'replayed');
    assert.match(!verdict.fresh ? verdict.reason : '', /version 3 is lower than version 4/);
  });

  it('takes an equal version with the same content, refuses it with other content', () => {
    assert.deepEqual(judgeFreshness(issue(4, T0), accepted(4, T0), T0 + HOUR, true), { fresh: true });
    const verdict = judgeFreshness(issue(4, T0), accepted(4, T0), T0 + HOUR, false);
    assert.equal(!verdict.fresh && verdict.kind, 'replayed');
  });

  it('refuses an expired target, allowing the clock skew past expiresAt', () => {
    const target = issue(5, T0, DAY);
    const expiresAt = T0 + DAY;
    assert.deepEqual(judgeFreshness(target, null, expiresAt + CLOCK_SKEW_MS, false), { fresh: true });
    const verdict = judgeFreshness(target, null, expiresAt + CLOCK_SKEW_MS + 1, false);
    assert.equal(!verdict.fresh && verdict.kind, 'expired');
    assert.match(!verdict.fresh ? verdict.reason : '', /^target expired: version 5 was valid until/);
  });

  it('a clock behind (a Pi after power loss) counts from the last verified issuedAt, never expiring a good target', () => {
    // System clock at the epoch; the last accepted target was issued at T0.
    assert.equal(deviceNow(0, accepted(4, T0)), T0);
    assert.deepEqual(judgeFreshness(issue(5, T0 + HOUR), accepted(4, T0), 0, false), { fresh: true });
    // ...and cannot be fooled into taking a target that expired before the last one was issued.
    const old = issue(6, T0 - 10 * DAY, DAY);
    const verdict = judgeFreshness(old, accepted(4, T0), 0, false);
    assert.equal(!verdict.fresh && verdict.kind, 'expired');
  });

  it('a clock far ahead sees targets as expired (recovered by correcting the clock)', () => {
    const target = issue(5, T0);
    assert.equal(judgeFreshness(target, accepted(4, T0 - DAY), T0 + 400 * DAY, false).fresh, false);
    assert.equal(judgeFreshness(target, accepted(4, T0 - DAY), T0 + HOUR, false).fresh, true);
  });

  it('refuses a validity that is no time span', () => {
    const verdict = judgeFreshness(
      { version: 5, issuedAt: new Date(T0).toISOString(), expiresAt: new Date(T0).toISOString() },
      null,
      T0,
      false,
    );
    assert.equal(!verdict.fresh && verdict.kind, 'malformed');
  });

  it('reports a running target as stale once its validity is over', () => {
    assert.equal(staleness(issue(5, T0, DAY), T0 + HOUR), null);
    assert.match(staleness(issue(5, T0, DAY), T0 + 2 * DAY) ?? '', /^target expired/);
    assert.equal(staleness(undefined, T0 + 400 * DAY), null);
  });
});
