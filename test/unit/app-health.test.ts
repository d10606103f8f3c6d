import assert from 'node:assert/strict';
import {
  DEFAULT_DEADLINE_SECONDS,
  HEALTH_DEADLINE_LABEL,
  HEALTH_MIN_LABEL,
  healthLabelIssues,
  watchDeadlineSeconds,
} from '../../supervisor/app-health/declaration.js';
import {
  appHealthOf,
  isRestartLoop,
  judgeRelease,
  RESTART_LOOP_WINDOW_MS,
  type ServiceObservation,
} from '../../supervisor/app-health/judgement.js';
import {
  APP_RELEASE_STATES,
  effectiveTarget,
  next,
  refuses,
  TRANSITIONS,
  type AppReleaseEvent,
  type AppReleaseRecord,
} from '../../supervisor/app-health/state-machine.js';
import { serviceSpec, targetState } from '../../harness/supervisor-targets.js';

const IMAGE = `registry.local/a@sha256:${'a'.repeat(64)}`;
const t0 = new Date('2026-01-01T00:00:00Z');
const later = (seconds: number): Date => new Date(t0.getTime() + seconds * 1000);

function observation(extra: Partial<ServiceObservation> = {}): ServiceObservation {
  return {
    name: 'reader',
    state: 'running',
    engineHealth: null,
    restartLoop: false,
    declaration: { min: null, deadlineSeconds: 60 },
    appHealth: undefined,
    ...extra,
  };
}

const healthy = { kind: 'verdict', verdict: { kind: 'healthy' }, goodReleaseId: 'good' } as const;
const notYet = {
  kind: 'verdict',
  verdict: { kind: 'not-yet', reason: 'reader is exited' },
  goodReleaseId: 'good',
} as const;
const looping = {
  kind: 'verdict',
  verdict: { kind: 'failed', reason: 'restart loop: reader' },
  goodReleaseId: 'good',
} as const;

/** A watched release the device began to apply at t0. */
function watching(releaseId = 'new', deadlineSeconds = 60): AppReleaseRecord {
  const record = next(next(null, { kind: 'target', releaseId, deadlineSeconds }, t0), { kind: 'applying' }, t0);
  assert.ok(record !== null);
  return record;
}

describe('application health: declaration', () => {
  it('takes the release deadline from its services labels, and leaves a release without any unwatched', () => {
    const plain = targetState([serviceSpec('a', IMAGE)], { releaseId: 'r1' });
    assert.equal(watchDeadlineSeconds(plain), null);
    const declared = targetState(
      [
        serviceSpec('a', IMAGE, { labels: { [HEALTH_MIN_LABEL]: '0.9', [HEALTH_DEADLINE_LABEL]: '90s' } }),
        serviceSpec('b', IMAGE, { labels: { [HEALTH_DEADLINE_LABEL]: '2m' } }),
      ],
      { releaseId: 'r2' },
    );
    assert.equal(watchDeadlineSeconds(declared), 120);
    const minOnly = targetState([serviceSpec('a', IMAGE, { labels: { [HEALTH_MIN_LABEL]: '0.5' } })], {
      releaseId: 'r3',
    });
    assert.equal(watchDeadlineSeconds(minOnly), DEFAULT_DEADLINE_SECONDS);
  });

  it('refuses labels it cannot read, naming the label and what it takes', () => {
    const bad = targetState(
      [serviceSpec('a', IMAGE, { labels: { [HEALTH_MIN_LABEL]: 'most', [HEALTH_DEADLINE_LABEL]: '0s' } })],
      { releaseId: 'r1' },
    );
    const issues = healthLabelIssues(bad);
    assert.deepEqual(
      issues.map((i) => i.path),
      [`/services/0/labels/${HEALTH_MIN_LABEL}`, `/services/0/labels/${HEALTH_DEADLINE_LABEL}`],
    );
    assert.match(issues[1]?.message ?? '', /not a duration above 0 and up to a week/);
  });
});

describe('application health: judgement', () => {
  it('sees a restart loop in 3 restarts within 10 minutes, and not in 3 spread over longer', () => {
    const created = t0.getTime();
    const samples = [
      { atMs: created + 1_000, count: 1 },
      { atMs: created + 2_000, count: 2 },
    ];
    assert.equal(isRestartLoop(created, samples, created + 3_000), false);
    assert.equal(isRestartLoop(created, [...samples, { atMs: created + 3_000, count: 3 }], created + 3_000), true);
    // An old container: counted from the lowest count seen within the window.
    const old = created - 2 * RESTART_LOOP_WINDOW_MS;
    const spread = [
      { atMs: created - RESTART_LOOP_WINDOW_MS - 1, count: 5 },
      { atMs: created, count: 6 },
      { atMs: created + 60_000, count: 7 },
    ];
    assert.equal(isRestartLoop(old, spread, created + 120_000), false);
    assert.equal(isRestartLoop(old, [...spread, { atMs: created + 180_000, count: 8 }], created + 180_000), true);
    assert.equal(isRestartLoop(created, [], created), false);
  });

  it('judges a reported value against the declared minimum, and pass/fail as said', () => {
    const at = t0.toISOString();
    const min = { min: 0.9, deadlineSeconds: null };
    assert.equal(appHealthOf({ value: 0.95, pass: null, detail: null, reportedAt: at }, min)?.ok, true);
    assert.equal(appHealthOf({ value: 0.5, pass: null, detail: 'bad telegrams', reportedAt: at }, min)?.ok, false);
    assert.equal(appHealthOf({ value: null, pass: false, detail: null, reportedAt: at }, min)?.ok, false);
    assert.equal(
      appHealthOf({ value: 0.1, pass: null, detail: null, reportedAt: at }, { min: null, deadlineSeconds: 1 })?.ok,
      true,
    );
    assert.equal(appHealthOf(null, min), undefined);
  });

  it('fails a crash loop at once, and is healthy only when every service runs, passes its healthcheck and its own health', () => {
    assert.equal(judgeRelease([observation(), observation({ name: 'b', restartLoop: true })]).kind, 'failed');
    assert.deepEqual(judgeRelease([observation()]), { kind: 'healthy' });
    const reasons = [
      observation({ state: null }),
      observation({ state: 'exited' }),
      observation({ engineHealth: 'unhealthy' }),
      observation({ declaration: { min: 0.9, deadlineSeconds: 60 } }),
      observation({
        declaration: { min: 0.9, deadlineSeconds: 60 },
        appHealth: { ok: false, value: 0.5, detail: null, reportedAt: t0.toISOString() },
      }),
    ].map((o) => judgeRelease([o]));
    assert.deepEqual(
      reasons.map((r) => (r.kind === 'not-yet' ? r.reason : r.kind)),
      [
        'reader has no container of this release',
        'reader is exited',
        "reader's healthcheck is unhealthy",
        'reader reported no health (its release asks for at least 0.9)',
        'reader reports health 0.5, below its minimum 0.9',
      ],
    );
  });
});

describe('application rollback state machine', () => {
  it('one table holds the transitions: every event from every state lands inside it', () => {
    const events: AppReleaseEvent[] = [
      { kind: 'target', releaseId: 'other', deadlineSeconds: 60 },
      { kind: 'target', releaseId: 'other', deadlineSeconds: null },
      { kind: 'target', releaseId: 'new', deadlineSeconds: 60 },
      healthy,
      notYet,
      looping,
      { kind: 'applying' },
      { kind: 'converged' },
    ];
    for (const state of APP_RELEASE_STATES) {
      for (const event of events) {
        for (const now of [t0, later(61)]) {
          const from: AppReleaseRecord = { ...watching(), state };
          const to = next(from, event, now);
          assert.ok(to !== null);
          assert.ok(
            to === from || TRANSITIONS[state].includes(to.state),
            `${state} --${event.kind}--> ${to.state} is not in the table`,
          );
        }
      }
    }
  });

  it('runs a release deadline from when the device begins to apply it, not from when its target arrived', () => {
    const arrived = next(null, { kind: 'target', releaseId: 'new', deadlineSeconds: 60 }, t0);
    assert.deepEqual([arrived?.state, arrived?.deadlineAt], ['watching', null]);
    // Waiting for its update window for hours is not failing.
    assert.equal(next(arrived, notYet, later(7200)), arrived);
    const applying = next(arrived, { kind: 'applying' }, later(7200));
    assert.equal(applying?.deadlineAt, later(7260).toISOString());
    assert.equal(next(applying, { kind: 'applying' }, later(7300)), applying, 'the deadline is set once');
    assert.equal(next(applying, notYet, later(7261))?.state, 'rolling-back');
  });

  it('keeps a release that is healthy at its deadline, not before', () => {
    const w = watching();
    assert.equal(w.state, 'watching');
    assert.equal(w.deadlineAt, later(60).toISOString());
    assert.equal(next(w, healthy, later(30)), w);
    assert.equal(next(w, notYet, later(30)), w);
    assert.equal(next(w, healthy, later(60))?.state, 'kept');
  });

  it('rolls back at once on a crash loop, and at the deadline when not healthy, with the reason', () => {
    const crashed = next(watching(), looping, later(5));
    assert.deepEqual(
      { state: crashed?.state, to: crashed?.toReleaseId, reason: crashed?.reason, at: crashed?.at },
      { state: 'rolling-back', to: 'good', reason: 'restart loop: reader', at: later(5).toISOString() },
    );
    const late = next(watching(), notYet, later(61));
    assert.equal(late?.state, 'rolling-back');
    assert.equal(late?.reason, 'not healthy within its deadline of 60 s: reader is exited');
    const done = next(late, { kind: 'converged' }, later(70));
    assert.equal(done?.state, 'rolled-back');
  });

  it('does not try a rolled back release again until the target names another release and back', () => {
    const done = next(next(watching(), looping, later(5)), { kind: 'converged' }, later(10));
    assert.equal(refuses(done, 'new'), true);
    assert.equal(next(done, { kind: 'target', releaseId: 'new', deadlineSeconds: 60 }, later(20)), done);
    const other = next(done, { kind: 'target', releaseId: 'other', deadlineSeconds: null }, later(30));
    assert.equal(other?.state, 'kept');
    assert.equal(refuses(other, 'new'), false);
    const back = next(other, { kind: 'target', releaseId: 'new', deadlineSeconds: 60 }, later(40));
    assert.equal(back?.state, 'watching');
    assert.deepEqual([back?.deadlineSeconds, back?.deadlineAt], [60, null]);
  });

  it('reports a failure with nothing good to go back to, but keeps running what it has', () => {
    const failed = next(watching(), { ...looping, goodReleaseId: null }, later(5));
    assert.equal(failed?.state, 'rolling-back');
    assert.equal(failed?.toReleaseId, null);
    assert.equal(refuses(failed, 'new'), false);
  });
});

describe('application rollback: what the device runs', () => {
  it('runs the last good release under the current config while its target names the release given up on', () => {
    const good = targetState([serviceSpec('a', IMAGE)], { releaseId: 'good', volumes: ['data'] });
    const failing = {
      ...targetState([serviceSpec('a', IMAGE, { environment: { NEW: '1' } })], { releaseId: 'new', env: { VAR: '2' } }),
      networkDefinitions: { sensors: { internal: true } },
    };
    const rolledBack = next(watching(), looping, later(5));
    const runs = effectiveTarget(failing, rolledBack, good);
    assert.equal(runs.release?.id, 'good');
    assert.deepEqual(runs.services, good.services);
    assert.deepEqual(runs.volumes, ['data']);
    assert.equal(runs.networkDefinitions, undefined, "the failing release's definitions go with it");
    assert.deepEqual(runs.config.env, { VAR: '2' }, "the fleet's current config stays");
    assert.equal(effectiveTarget(failing, watching(), good), failing);
    assert.equal(effectiveTarget(failing, rolledBack, null), failing, 'nothing good to go back to');
    const other = targetState([serviceSpec('a', IMAGE)], { releaseId: 'other' });
    assert.equal(effectiveTarget(other, rolledBack, good), other);
  });
});
