import assert from 'node:assert/strict';
import { isSkiffImage, recordRelease, RELEASES_KEPT } from '../../supervisor/image-cleanup.js';

describe('image history (which releases keep their images)', () => {
  it('keeps the running and the previous release, dropping older ones', () => {
    const one = recordRelease([], 'r1', ['b', 'a']);
    assert.deepEqual(one, { kept: [{ release: 'r1', images: ['a', 'b'] }], dropped: [] });
    const two = recordRelease(one.kept, 'r2', ['c']);
    assert.deepEqual(two.dropped, []);
    const three = recordRelease(two.kept, 'r3', ['d']);
    assert.equal(RELEASES_KEPT, 2);
    assert.deepEqual(three.kept.map((h) => h.release), ['r2', 'r3']);
    assert.deepEqual(three.dropped, [{ release: 'r1', images: ['a', 'b'] }]);
  });

  it('a release that runs again becomes the newest instead of appearing twice', () => {
    const history = [{ release: 'r1', images: ['a'] }, { release: 'r2', images: ['b'] }];
    const back = recordRelease(history, 'r1', ['a']);
    assert.deepEqual(back, { kept: [{ release: 'r2', images: ['b'] }, { release: 'r1', images: ['a'] }], dropped: [] });
  });

  it('only images tagged by Skiff\'s fetcher count as Skiff\'s', () => {
    assert.equal(isSkiffImage({ repoTags: [`reg:5000/app:sha256-${'a'.repeat(64)}`] }), true);
    assert.equal(isSkiffImage({ repoTags: ['reg:5000/app:latest'] }), false);
    assert.equal(isSkiffImage({ repoTags: [] }), false);
  });
});
