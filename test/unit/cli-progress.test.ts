import assert from 'node:assert/strict';
import { BuildTracker } from '../../cli/push/image-builder.js';
import { PushTracker, digestFromRepoDigests } from '../../cli/push/image-pusher.js';

const DIGEST = `sha256:${'c'.repeat(64)}`;

describe('cli push progress', () => {
  describe('BuildTracker', () => {
    it('shows the step lines only and records the image id', () => {
      const tracker = new BuildTracker();
      const shown = [
        { stream: 'Step 1/2 : FROM skiff/busybox:base\n' },
        { stream: ' ---> 3f1a\n' },
        { stream: 'Step 2/2 : COPY . /app/\n' },
        { stream: ' ---> Running in 9c\nRemoving intermediate container 9c\n' },
        { aux: { ID: 'sha256:abc' } },
        { stream: 'Successfully built abc\n' },
      ].flatMap((e) => tracker.feed(e));
      assert.deepEqual(shown, ['Step 1/2 : FROM skiff/busybox:base', 'Step 2/2 : COPY . /app/']);
      assert.equal(tracker.imageId, 'sha256:abc');
      assert.equal(tracker.error, null);
    });

    it("names the failing step, the engine's reason and the step's last output", () => {
      const tracker = new BuildTracker();
      for (const e of [
        { stream: 'Step 1/3 : FROM skiff/busybox:base\n' },
        { stream: 'Step 2/3 : RUN make\n' },
        { stream: ' ---> Running in 1\n' },
        { stream: 'cc -c main.c\nmain.c:3: error: expected ;\n' },
        {
          errorDetail: { code: 2, message: "The command '/bin/sh -c make' returned a non-zero code: 2" },
          error: 'ignored',
        },
      ])
        tracker.feed(e);
      assert.equal(
        tracker.failure(),
        [
          "build failed at step 2/3 (RUN make): The command '/bin/sh -c make' returned a non-zero code: 2",
          '  last output:',
          '    cc -c main.c',
          '    main.c:3: error: expected ;',
        ].join('\n'),
      );
    });

    it('reports an error that comes before any step', () => {
      const tracker = new BuildTracker();
      tracker.feed({ error: 'Cannot locate specified Dockerfile: Dockerfile' });
      assert.equal(tracker.failure(), 'build failed: Cannot locate specified Dockerfile: Dockerfile');
    });
  });

  describe('PushTracker', () => {
    it('shows each layer at most once per interval, plus its final state', () => {
      const tracker = new PushTracker(1000);
      const at = (ms: number, event: object): string[] => tracker.feed(event, ms);
      const shown = [
        ...at(0, { status: 'The push refers to repository [127.0.0.1:5000/meters/reader]' }),
        ...at(0, { status: 'Preparing', id: 'l1', progressDetail: {} }),
        ...at(0, { status: 'Layer already exists', id: 'l0', progressDetail: {} }),
        ...at(10, { status: 'Pushing', id: 'l1', progressDetail: { current: 512, total: 3_000_000 } }),
        ...at(400, { status: 'Pushing', id: 'l1', progressDetail: { current: 1_000_000, total: 3_000_000 } }),
        ...at(900, { status: 'Pushing', id: 'l1', progressDetail: { current: 2_000_000, total: 3_000_000 } }),
        ...at(1100, { status: 'Pushing', id: 'l1', progressDetail: { current: 2_500_000, total: 3_000_000 } }),
        ...at(1200, { status: 'Pushing', id: 'l2', progressDetail: { current: 700, total: 9 } }),
        ...at(1300, { status: 'Pushed', id: 'l1', progressDetail: {} }),
        ...at(1300, { status: 'Pushed', id: 'l2', progressDetail: {} }),
        ...at(1400, { status: `1.4.0: digest: ${DIGEST} size: 739`, progressDetail: {} }),
        ...at(1400, { progressDetail: {}, aux: { Tag: '1.4.0', Digest: DIGEST, Size: 739 } }),
      ];
      assert.deepEqual(shown, [
        'l0: already in the registry',
        'l1: pushing 512 B / 3.0 MB',
        'l1: pushing 2.5 MB / 3.0 MB',
        'l2: pushing 9 B / 9 B',
        'l1: pushed 3.0 MB',
        'l2: pushed 9 B',
      ]);
      assert.equal(tracker.digest, DIGEST);
      assert.equal(tracker.summary(), '2 layer(s) pushed (3.0 MB), 1 already there');
    });

    it('takes the digest from the status line when the engine sends no aux', () => {
      const tracker = new PushTracker();
      tracker.feed({ status: `latest: digest: ${DIGEST} size: 528` }, 0);
      assert.equal(tracker.digest, DIGEST);
    });

    it('records the error of a failed push', () => {
      const tracker = new PushTracker();
      tracker.feed(
        { errorDetail: { message: 'Get "http://127.0.0.1:1/v2/": dial tcp: connection refused' }, error: 'x' },
        0,
      );
      assert.equal(tracker.error, 'Get "http://127.0.0.1:1/v2/": dial tcp: connection refused');
      assert.equal(tracker.digest, null);
    });
  });

  it('finds the digest of the pushed repository among RepoDigests', () => {
    const repo = '127.0.0.1:5000/meters/reader';
    assert.equal(digestFromRepoDigests([`other/repo@${DIGEST}`, `${repo}@${DIGEST}`], repo), DIGEST);
    assert.equal(digestFromRepoDigests([`${repo}-x@${DIGEST}`], repo), null);
    assert.equal(digestFromRepoDigests(undefined, repo), null);
  });
});
