// What a label's QR code holds and what commissioning takes back from it: the device page address, and the device
// it names whether the installer types the short id or scans the code.
import assert from 'node:assert/strict';
import { deviceFromLabel, deviceUrl } from '../../cli/labels/render.js';

describe('device labels', () => {
  it("holds the device page's address under the base URL", () => {
    assert.equal(deviceUrl('https://fleet.example.com/', 'AB12CD34'), 'https://fleet.example.com/devices/AB12CD34');
    assert.equal(deviceUrl('http://127.0.0.1:8080/skiff', 'AB12CD34'), 'http://127.0.0.1:8080/skiff/devices/AB12CD34');
  });

  it('takes the device back from a short id, a uuid or the scanned address', () => {
    assert.equal(deviceFromLabel('AB12CD34'), 'AB12CD34');
    assert.equal(deviceFromLabel(' 5b0f6a3e-2c1d-4e8f-9a7b-3c2d1e0f9a8b '), '5b0f6a3e-2c1d-4e8f-9a7b-3c2d1e0f9a8b');
    assert.equal(deviceFromLabel('https://fleet.example.com/devices/AB12CD34'), 'AB12CD34');
    assert.equal(deviceFromLabel('https://fleet.example.com/skiff/devices/AB12CD34/'), 'AB12CD34');
  });

  it('refuses what names no device', () => {
    for (const bad of ['', 'two words', 'ftp://x/devices/AB12CD34', 'https://x/fleets/AB12', 'https://x/devices/a b']) {
      assert.equal(deviceFromLabel(bad), null, bad);
    }
  });
});
