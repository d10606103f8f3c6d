// The one device selector grammar: what parses, what is refused and how the refusal reads, what matches, saved
// groups resolved into a selector, and how a bulk tag change rewrites a device's tags.
import assert from 'node:assert/strict';
import { retagged } from '../../protocol/device-groups.js';
import {
  type DeviceAttributes,
  groupsNamed,
  parseSelector,
  SELECTOR_LIMITS,
  SelectorError,
  selects,
  withGroups,
} from '../../protocol/device-selector.js';

const meter: DeviceAttributes = {
  uuid: '8f14e45f-ceea-4e7a-9d3b-1a2b3c4d5e6f',
  shortId: '8GTC2K9Q',
  name: 'kitchen-meter',
  fleet: 'meters',
  deviceType: 'raspberrypi4-64',
  osVersion: '1.4.0',
  releaseVersion: '1.2.0',
  releaseId: 'a1b2c3d4e5f60718293a4b5c6d7e8f90',
  tags: ['canary', 'region=north'],
  customer: 'acme-energy',
  site: 'roof-12',
  online: true,
  updateStatus: 'converged',
};

const picks = (text: string, device: DeviceAttributes = meter): boolean => selects(parseSelector(text), device);

function refusal(text: string): string {
  try {
    parseSelector(text);
  } catch (err) {
    assert.ok(err instanceof SelectorError, `expected a SelectorError, got ${String(err)}`);
    return err.message;
  }
  assert.fail(`${JSON.stringify(text)} parsed`);
}

describe('device selector', () => {
  it('parses terms, negation and alternatives, keeping the text as given', () => {
    const selector = parseSelector('  tag:region=north , !type:raspberrypi3|fincm3 ');
    assert.equal(selector.text, 'tag:region=north , !type:raspberrypi3|fincm3');
    assert.deepEqual(selector.terms, [
      { key: 'tag', values: ['region=north'], negated: false },
      { key: 'type', values: ['raspberrypi3', 'fincm3'], negated: true },
    ]);
  });

  it('the empty selector selects every device', () => {
    assert.deepEqual(parseSelector('   ').terms, []);
    assert.equal(picks(''), true);
  });

  it('matches tags by label, by key and by key=value pair', () => {
    assert.equal(picks('tag:canary'), true);
    assert.equal(picks('tag:region'), true);
    assert.equal(picks('tag:region=north'), true);
    assert.equal(picks('tag:region=south'), false);
    assert.equal(picks('tag:region=south|canary'), true);
    assert.equal(picks('!tag:canary'), false);
  });

  it('every term must hold', () => {
    assert.equal(picks('tag:region=north,type:raspberrypi4-64'), true);
    assert.equal(picks('tag:region=north,type:raspberrypi3'), false);
  });

  it('matches the other attributes', () => {
    assert.equal(picks('os:1.4.0'), true);
    assert.equal(picks('release:1.2.0'), true);
    assert.equal(picks('release:a1b2c3'), true, 'an id prefix');
    assert.equal(picks('release:a1b'), false, 'an id prefix of fewer than 4 characters is no id');
    assert.equal(picks('fleet:meters'), true);
    assert.equal(picks('customer:acme*'), true);
    assert.equal(picks('site:roof-*,name:*meter'), true);
    assert.equal(picks('site:roof'), false);
    assert.equal(picks('id:8f14e45f'), true);
    assert.equal(picks('id:8gtc'), true, 'a short id prefix in any case');
    assert.equal(picks('status:converged,online:yes'), true);
    assert.equal(picks('online:no'), false);
    assert.equal(picks('status:none', { ...meter, updateStatus: null }), true);
    assert.equal(picks('customer:*', { ...meter, customer: null }), false, 'a value never said matches nothing');
  });

  it('refuses an unknown key, naming the term and the keys allowed', () => {
    const message = refusal('tag:canary,colour:blue');
    assert.match(message, /term 2 \("colour:blue"\) has the unknown key "colour"/);
    assert.match(message, /keys are tag, type, os, release, fleet, customer, site, name, id, status, online, group/);
  });

  it('refuses terms that are not key:value, and empty terms', () => {
    assert.match(refusal('canary'), /term 1 \("canary"\) is not key:value; keys are tag, /);
    assert.match(refusal(':canary'), /term 1 \(":canary"\) is not key:value/);
    assert.match(refusal('tag:canary,,type:fincm3'), /term 2 \(""\) is empty; write terms as key:value/);
  });

  it('refuses values with characters a selector cannot hold, without echoing more than 80 of them', () => {
    assert.match(refusal('name:kitchen meter'), /has the value "kitchen meter"; a value is letters, digits and/);
    assert.match(refusal('tag:'), /has the value ""/);
    const long = refusal(`name:${'x'.repeat(300)} y`);
    assert.ok(!long.includes('x'.repeat(81)), 'the value is cut at 80 characters');
  });

  it('refuses bad online, status and group values with what they take', () => {
    assert.match(refusal('online:maybe'), /online takes yes or no/);
    assert.match(refusal('status:stuck'), /status takes converged, downloading, applying, error, none/);
    assert.match(refusal('group:Canaries'), /a group name is lowercase letters, digits and -/);
  });

  it('bounds the size of a selector', () => {
    assert.match(refusal('x'.repeat(SELECTOR_LIMITS.chars + 1)), /at most 1024 are allowed/);
    const terms = Array.from({ length: SELECTOR_LIMITS.terms + 1 }, (_, i) => `tag:t${i}`).join(',');
    assert.match(refusal(terms), /it has 33 terms; at most 32 are allowed/);
    const values = Array.from({ length: SELECTOR_LIMITS.values + 1 }, (_, i) => `t${i}`).join('|');
    assert.match(refusal(`tag:${values}`), /lists 65 values; at most 64/);
  });

  it('resolves saved groups, and refuses unknown and nested ones', () => {
    const selector = parseSelector('group:north|south,!tag:broken');
    assert.deepEqual(groupsNamed(selector), ['north', 'south']);
    const saved: Record<string, string> = { north: 'tag:region=north', south: 'tag:region=south' };
    const resolved = withGroups(selector, (name) =>
      saved[name] === undefined ? undefined : parseSelector(saved[name]),
    );
    assert.equal(selects(resolved, meter), true);
    assert.equal(selects(resolved, { ...meter, tags: ['region=west'] }), false);
    assert.equal(selects(resolved, { ...meter, tags: ['region=south', 'broken'] }), false);
    assert.throws(
      () => withGroups(parseSelector('group:east'), () => undefined),
      /the group "east" does not exist in the device's fleet/,
    );
    assert.throws(
      () => withGroups(parseSelector('group:both'), () => parseSelector('group:north')),
      /the group "both" names another group; saved groups cannot nest/,
    );
  });

  it('will not match a group it was not given: that would silently select nothing', () => {
    assert.throws(() => picks('group:north'), /the group "north" is not resolved/);
  });
});

describe('retagging a device', () => {
  it('adds labels and pairs, a pair replacing the pairs of its key', () => {
    assert.deepEqual(retagged(['canary', 'region=north'], ['region=south', 'meter'], []), [
      'canary',
      'region=south',
      'meter',
    ]);
  });

  it('removes a label, a pair, or by key every pair of that key', () => {
    assert.deepEqual(retagged(['canary', 'region=north', 'site=a'], [], ['canary', 'region']), ['site=a']);
    assert.deepEqual(retagged(['region=north'], [], ['region=south']), ['region=north']);
  });

  it('keeps what is there already, once', () => {
    assert.deepEqual(retagged(['canary'], ['canary'], []), ['canary']);
  });
});
