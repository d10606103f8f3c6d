import assert from 'node:assert/strict';
import { bandwidthCapAt, periodContains } from '../../supervisor/images/bandwidth/cap.js';
import { msUntilChange, updateWindowState } from '../../supervisor/reconcile/update-window.js';

// 02:00-04:00 in Amsterdam (UTC+1 in January): 01:00Z-03:00Z.
const window = { cron: '0 2 * * *', durationMinutes: 120, timezone: 'Europe/Amsterdam' };

describe('update window', () => {
  it('is open from the opening minute until the duration ends, in the window timezone', () => {
    assert.equal(updateWindowState({ updateWindow: window }, new Date('2024-01-10T00:59:59Z')).phase, 'closed');
    const opening = updateWindowState({ updateWindow: window }, new Date('2024-01-10T01:00:00Z'));
    assert.equal(opening.phase, 'open');
    assert.equal(opening.closesAt?.toISOString(), '2024-01-10T03:00:00.000Z');
    assert.equal(updateWindowState({ updateWindow: window }, new Date('2024-01-10T02:59:59Z')).phase, 'open');
    const after = updateWindowState({ updateWindow: window }, new Date('2024-01-10T03:00:00Z'));
    assert.equal(after.phase, 'closed');
    assert.equal(after.nextOpening?.toISOString(), '2024-01-11T01:00:00.000Z');
    assert.equal(after.downloadAllowed, false);
    assert.equal(after.applyAllowed, false);
  });

  it('follows daylight saving time: 02:00 Amsterdam is 00:00Z in July', () => {
    assert.equal(updateWindowState({ updateWindow: window }, new Date('2024-07-10T00:30:00Z')).phase, 'open');
    assert.equal(updateWindowState({ updateWindow: window }, new Date('2024-07-10T02:30:00Z')).phase, 'closed');
  });

  it('downloads outside the window when allowed, but applies only inside it', () => {
    const state = updateWindowState(
      { updateWindow: { ...window, downloadOutsideWindow: true } },
      new Date('2024-01-10T12:00:00Z'),
    );
    assert.deepEqual([state.phase, state.downloadAllowed, state.applyAllowed], ['closed', true, false]);
  });

  it("an operator's update-now overrides a closed window until it expires", () => {
    const config = { updateWindow: window, forceUpdateUntil: '2024-01-10T13:00:00Z' };
    const forced = updateWindowState(config, new Date('2024-01-10T12:00:00Z'));
    assert.deepEqual([forced.phase, forced.downloadAllowed, forced.applyAllowed], ['forced', true, true]);
    assert.equal(msUntilChange(forced, new Date('2024-01-10T12:00:00Z')), 3_600_000);
    assert.equal(updateWindowState(config, new Date('2024-01-10T13:00:00Z')).phase, 'closed');
  });

  it('no window: always allowed', () => {
    const state = updateWindowState({ updateWindow: null }, new Date());
    assert.deepEqual(
      [state.phase, state.downloadAllowed, state.applyAllowed, state.nextOpening],
      ['none', true, true, null],
    );
  });

  it('names the cron expression when it is invalid', () => {
    assert.throws(
      () => updateWindowState({ updateWindow: { ...window, cron: '99 2 * * *' } }, new Date()),
      /cron '99 2 \* \* \*'/,
    );
  });
});

describe('bandwidth cap', () => {
  const night = { from: '22:00', to: '06:00', timezone: 'Europe/Amsterdam', bytesPerSecond: null };
  it('a period over midnight contains late evening and early morning local time only', () => {
    assert.equal(periodContains(night, new Date('2024-01-10T21:30:00Z')), true); // 22:30 local
    assert.equal(periodContains(night, new Date('2024-01-10T04:59:00Z')), true); // 05:59 local
    assert.equal(periodContains(night, new Date('2024-01-10T05:00:00Z')), false); // 06:00 local
    assert.equal(periodContains(night, new Date('2024-01-10T12:00:00Z')), false);
  });

  it('the first matching period wins, else the plain cap', () => {
    const config = {
      bandwidthCapBytesPerSecond: 50_000,
      bandwidthSchedule: [night, { ...night, from: '00:00', to: '00:00', bytesPerSecond: 1 }],
    };
    assert.equal(bandwidthCapAt(config, new Date('2024-01-10T23:00:00Z')), null);
    assert.equal(bandwidthCapAt(config, new Date('2024-01-10T12:00:00Z')), 1);
    assert.equal(bandwidthCapAt({ bandwidthCapBytesPerSecond: 50_000 }, new Date('2024-01-10T12:00:00Z')), 50_000);
  });
});
