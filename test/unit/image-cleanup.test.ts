import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DEFAULT_DEVICE_CONFIG, type TargetState } from '../../protocol/target-state.js';
import { createLogger } from '../../lib/logger.js';
import type { EngineImage } from '../../supervisor/engine/engine.js';
import { ImageCleanup, isSkiffImage, recordRelease, RELEASES_KEPT } from '../../supervisor/images/cleanup.js';

describe('image history (which releases keep their images)', () => {
  it('keeps the running and the previous release, dropping older ones', () => {
    const one = recordRelease([], 'r1', ['b', 'a']);
    assert.deepEqual(one, { kept: [{ release: 'r1', images: ['a', 'b'] }], dropped: [] });
    const two = recordRelease(one.kept, 'r2', ['c']);
    assert.deepEqual(two.dropped, []);
    const three = recordRelease(two.kept, 'r3', ['d']);
    assert.equal(RELEASES_KEPT, 2);
    assert.deepEqual(
      three.kept.map((h) => h.release),
      ['r2', 'r3'],
    );
    assert.deepEqual(three.dropped, [{ release: 'r1', images: ['a', 'b'] }]);
  });

  it('a release that runs again becomes the newest instead of appearing twice', () => {
    const history = [
      { release: 'r1', images: ['a'] },
      { release: 'r2', images: ['b'] },
    ];
    const back = recordRelease(history, 'r1', ['a']);
    assert.deepEqual(back, {
      kept: [
        { release: 'r2', images: ['b'] },
        { release: 'r1', images: ['a'] },
      ],
      dropped: [],
    });
  });

  it("only images tagged by Skiff's fetcher count as Skiff's", () => {
    assert.equal(isSkiffImage({ repoTags: [`reg:5000/app:sha256-${'a'.repeat(64)}`] }), true);
    assert.equal(isSkiffImage({ repoTags: ['reg:5000/app:latest'] }), false);
    assert.equal(isSkiffImage({ repoTags: [] }), false);
  });
});

describe('image clean-up after an update', () => {
  const image = (n: string): string => `reg:5000/app@sha256:${n.repeat(64)}`;
  const target = (release: string, images: string[]): TargetState => ({
    schemaVersion: 1,
    device: { uuid: 'u', name: 'n' },
    fleet: { name: 'f' },
    release: { id: release, version: release },
    services: images.map((ref, i) => ({
      name: `s${i}`,
      image: ref,
      environment: {},
      labels: {},
      volumes: [],
      ports: [],
      networks: {},
      restart: 'always',
      privileged: false,
      devices: [],
      dependsOn: {},
    })),
    volumes: [],
    networks: [],
    config: DEFAULT_DEVICE_CONFIG,
  });

  async function cleanupAfter(alsoKeep: string[]): Promise<string[]> {
    const dir = await mkdtemp(path.join(tmpdir(), 'skiff-cleanup-'));
    try {
      const file = path.join(dir, 'image-history.json');
      await writeFile(
        file,
        JSON.stringify([
          { release: 'r1', images: [image('a')] },
          { release: 'r2', images: [image('b')] },
        ]),
      );
      const removed: string[] = [];
      // The engine has every image under its digest reference and removes what it is asked to.
      const engine = {
        inspectImage: async (ref: string): Promise<EngineImage | undefined> =>
          ref.includes('@')
            ? { id: `sha256:${'f'.repeat(64)}`, repoTags: [], repoDigests: [ref], size: 1, createdAt: '', diffIds: [] }
            : undefined,
        removeImage: async (ref: string): Promise<'removed'> => {
          removed.push(ref);
          return 'removed';
        },
      };
      const log = createLogger('image-cleanup-test');
      log.level = 'silent';
      const current = { containers: [], images: [], networks: [], volumes: [] };
      await new ImageCleanup(file, engine, log).afterConverged(current, target('r3', [image('c')]), alsoKeep);
      return removed;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  it('removes the images of releases before the previous one', async () => {
    assert.deepEqual(await cleanupAfter([]), [image('a')]);
  });

  it('keeps images it is told to keep (the fleet target while a device is in local mode)', async () => {
    assert.deepEqual(await cleanupAfter([image('a')]), []);
  });
});
