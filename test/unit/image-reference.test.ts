import assert from 'node:assert/strict';
import { ImageReferenceError, parseDigestReference, parseImageReference } from '../../protocol/image-reference.js';

const HEX = 'c'.repeat(64);
const DIGEST = `sha256:${HEX}`;

describe('image references (the distribution grammar)', () => {
  const good: [string, Partial<ReturnType<typeof parseImageReference>>][] = [
    ['nginx', { registry: 'docker.io', domain: undefined, repository: 'library/nginx', tag: undefined }],
    ['nginx:1.25-alpine', { registry: 'docker.io', repository: 'library/nginx', tag: '1.25-alpine' }],
    [`meters/reader@${DIGEST}`, { registry: 'docker.io', repository: 'meters/reader', digest: DIGEST }],
    [`localhost/app@${DIGEST}`, { registry: 'localhost', domain: 'localhost', repository: 'app' }],
    [`127.0.0.1:5000/meters/reader@${DIGEST}`, { registry: '127.0.0.1:5000', repository: 'meters/reader' }],
    [
      `registry.example.com/a/b/c:v1.0_rc.2`,
      { registry: 'registry.example.com', repository: 'a/b/c', tag: 'v1.0_rc.2' },
    ],
    [`[fd00::5]:5000/app@${DIGEST}`, { registry: '[fd00::5]:5000', repository: 'app' }],
    [`Registry.LAN/app:x`, { registry: 'Registry.LAN', repository: 'app', tag: 'x' }],
    ['a.b/my__app/x-y.z--w', { repository: 'my__app/x-y.z--w' }],
    [
      `registry:5000/a/b:1.0@${DIGEST}`,
      { registry: 'registry:5000', name: 'registry:5000/a/b', repository: 'a/b', tag: '1.0', digest: DIGEST },
    ],
  ];
  for (const [text, expected] of good) {
    it(`accepts ${text}`, () => {
      const parsed = parseImageReference(text);
      for (const [key, value] of Object.entries(expected))
        assert.equal(parsed[key as keyof typeof parsed], value, `${key} of ${text}`);
    });
  }

  const bad: [string, RegExp][] = [
    ['', /is empty: give \[registry\/\]repository\[:tag\]\[@digest\]/],
    [
      `meters/Reader@${DIGEST}`,
      /path component 'Reader', which is not allowed: repository path components are lowercase/,
    ],
    ['meters/-reader', /path component '-reader'.*separated by '\.', '_', '__' or '-'/],
    ['meters//reader', /an empty path component/],
    ['meters/reader:-1', /tag '-1': a tag is 1-128 letters, digits/],
    [`meters/reader:${'t'.repeat(129)}`, /a tag is 1-128/],
    ['meters/reader@sha256:abc', /digest 'sha256:abc', which is not valid: a digest is algorithm:hex/],
    [`meters/reader@sha256:${'C'.repeat(64)}`, /a sha256 digest is exactly 64 lowercase hex digits/],
    [`meters/reader@${DIGEST}@${DIGEST}`, /more than one '@'/],
    [
      `reg_istry.lan:5000/app@${DIGEST}`,
      /registry 'reg_istry\.lan:5000', which is not a valid host: a registry is host\[:port\]/,
    ],
    [`registry.lan:http/app`, /port 'http' is not a number/],
    ['meters/reader latest', /white space/],
    [`${'a/'.repeat(130)}b`, /at most 255/],
  ];
  for (const [text, message] of bad) {
    it(`refuses '${text.slice(0, 40)}' saying what is wrong and what is allowed`, () => {
      assert.throws(
        () => parseImageReference(text),
        (err: unknown) => err instanceof ImageReferenceError && message.test(err.message),
      );
    });
  }

  it('a digest reference must be pinned by sha256', () => {
    assert.throws(() => parseDigestReference('meters/reader:1.0'), /is not pinned by digest: write it as/);
    assert.throws(() => parseDigestReference(`meters/reader@sha512:${'a'.repeat(128)}`), /images are pinned by sha256/);
    assert.equal(parseDigestReference(`r:5000/a/b:1.0@${DIGEST}`).digest, DIGEST);
  });
});
