// A fleet's rollouts: the list with each phase's counts, a form to start one from a selector and phases, and one
// rollout's live progress with the audit of its decisions; pause, resume, abort and the fleet's emergency stop for
// the roles the access policy lets do them.
import { useEffect, useState } from 'preact/hooks';
import type { AuditEntry } from '../../../protocol/access.js';
import { parseSelector } from '../../../protocol/device-selector.js';
import type { Release } from '../../../protocol/api.js';
import {
  ROLLOUT_LIMITS,
  type CreateRolloutRequest,
  type PhaseSpec,
  type Rollout,
  type RolloutPhase,
  type RolloutState,
} from '../../../protocol/rollouts.js';
import { may } from '../access.js';
import { call } from '../api.js';
import {
  ActionButton,
  Badge,
  ErrorBox,
  Loading,
  ReadyReleaseSelect,
  messageOf,
  Time,
  type Tone,
} from '../components.js';
import { type LiveEvent, useLive } from '../live.js';
import { API } from '../routes.js';
import { Link, navigate, useLocation } from '../router.js';
import { useSession } from '../session.js';
import type { PageProps } from './index.js';

export const ROLLOUT_TONE: Readonly<Record<RolloutState, Tone>> = {
  running: 'info',
  paused: 'warn',
  halted: 'bad',
  aborted: 'muted',
  completed: 'good',
};

/** Rollouts still under way or waiting for an operator: what the overview shows. */
export const ACTIVE_STATES: ReadonlySet<RolloutState> = new Set(['running', 'paused', 'halted']);

/**
 * What an operator may do in each state, to offer only those buttons; the API's own state machine decides (and
 * answers 409 with the reason when the rollout moved on meanwhile).
 */
const OFFERED: Readonly<Record<RolloutState, ReadonlyArray<'pause' | 'resume' | 'abort'>>> = {
  running: ['pause', 'abort'],
  paused: ['resume', 'abort'],
  halted: ['abort'],
  aborted: [],
  completed: [],
};

/** The events that change a fleet's rollouts or their counts: its rollouts' steps and its devices' reports. */
export function aboutRolloutsOf(fleet: string): (event: LiveEvent) => boolean {
  return (event) =>
    event.fleet === fleet &&
    (event.kind.startsWith('rollout.') || event.kind.startsWith('device.') || event.kind === 'fleet.emergency-stop');
}

export function phaseLabel(phase: Pick<RolloutPhase, 'spec'>): string {
  return 'percent' in phase.spec ? `${phase.spec.percent}%` : phase.spec.selector || 'every device';
}

export function rolloutHref(rollout: Pick<Rollout, 'fleet' | 'id'>): string {
  return `/rollouts/${encodeURIComponent(rollout.fleet)}/${encodeURIComponent(rollout.id)}`;
}

/** A phase's devices as a bar: healthy, failed, updated but not healthy yet, the rest pending. */
export function PhaseBar(props: { phase: RolloutPhase }) {
  const { devices, healthy, failed, updated } = props.phase.counts;
  const share = (n: number) => `${devices === 0 ? 0 : (100 * n) / devices}%`;
  const updating = Math.max(0, updated - healthy);
  return (
    <div
      class="phase-bar"
      role="img"
      aria-label={`${healthy} healthy, ${failed} failed, ${updating} updating of ${devices}`}
    >
      <span class="healthy" style={{ width: share(healthy) }} />
      <span class="failed" style={{ width: share(failed) }} />
      <span class="updating" style={{ width: share(updating) }} />
    </div>
  );
}

/** "2 of 3 (10%)": the phase a rollout is in. */
function currentPhase(rollout: Rollout): string {
  const phase = rollout.phases[rollout.phase];
  return phase === undefined
    ? '—'
    : `${rollout.phase + 1} of ${rollout.phases.length} (${phaseLabel(phase)}, ${phase.state})`;
}

/** The rollouts page: a fleet's rollouts, the create form and the emergency stop. */
export function Rollouts() {
  const { user } = useSession();
  const { query } = useLocation();
  const fleets = useLive(() => call(API.listFleets), [], false);
  const names = (fleets.data ?? []).map((f) => f.name);
  const wanted = query.get('fleet');
  const fleet = wanted !== null && names.includes(wanted) ? wanted : (names[0] ?? null);
  const rollouts = useLive(
    () => (fleet === null ? Promise.resolve([]) : call(API.listRollouts, { params: { fleet } })),
    [fleet],
    fleet !== null,
    fleet === null ? undefined : aboutRolloutsOf(fleet),
  );
  if (fleets.data === null) return <Loading error={fleets.error} />;
  const manage = fleet !== null && may(user, 'fleet.rollout', fleet);
  return (
    <section aria-labelledby="rollouts-title">
      <h1 id="rollouts-title">Rollouts</h1>
      {names.length === 0 ? (
        <p class="muted">No fleet yet.</p>
      ) : (
        <form class="filters" onSubmit={(e) => e.preventDefault()}>
          <label>
            Fleet
            <select
              name="fleet"
              value={fleet ?? ''}
              onChange={(e) => navigate(`/rollouts?fleet=${encodeURIComponent(e.currentTarget.value)}`)}
            >
              {names.map((name) => (
                <option key={name} value={name}>
                  {name}
                </option>
              ))}
            </select>
          </label>
          {manage && fleet !== null ? (
            <ActionButton
              label="Emergency stop"
              kind="danger"
              confirm={`Halt every running or paused rollout of fleet ${fleet}?`}
              run={() =>
                call(API.stopFleet, { params: { fleet }, body: { note: 'emergency stop from the dashboard' } })
              }
              onDone={rollouts.reload}
            />
          ) : null}
        </form>
      )}
      {fleet === null ? null : rollouts.data === null ? (
        <Loading error={rollouts.error} />
      ) : (
        <RolloutList rollouts={rollouts.data} />
      )}
      {manage && fleet !== null ? <CreateRollout fleet={fleet} /> : null}
    </section>
  );
}

function RolloutList(props: { rollouts: Rollout[] }) {
  if (props.rollouts.length === 0) return <p class="muted">No rollout in this fleet yet.</p>;
  return (
    <div class="scroll">
      <table class="compact" data-testid="rollouts">
        <thead>
          <tr>
            <th scope="col">Rollout</th>
            <th scope="col">State</th>
            <th scope="col">Release</th>
            <th scope="col">Phase</th>
            <th scope="col">Healthy / failed / pending per phase</th>
          </tr>
        </thead>
        <tbody>
          {props.rollouts.map((rollout) => (
            <tr key={rollout.id} data-rollout={rollout.id}>
              <td>
                <Link href={rolloutHref(rollout)}>
                  <code>{rollout.id.slice(0, 8)}</code>
                </Link>{' '}
                <Time at={rollout.createdAt} />
              </td>
              <td>
                <Badge tone={ROLLOUT_TONE[rollout.state]}>{rollout.state}</Badge>
              </td>
              <td>{rollout.releaseVersion}</td>
              <td>{currentPhase(rollout)}</td>
              <td>
                <ul class="plain">
                  {rollout.phases.map((phase) => (
                    <li key={phase.index}>
                      {phaseLabel(phase)}: {phase.counts.healthy} / {phase.counts.failed} / {phase.counts.pending}
                    </li>
                  ))}
                </ul>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** "1,10,100" as phases, or the message saying what is wrong. */
export function parsePhases(text: string): PhaseSpec[] | string {
  const parts = text
    .split(',')
    .map((part) => part.trim().replace(/%$/, ''))
    .filter((part) => part !== '');
  if (parts.length === 0) return 'give at least one phase, e.g. 1,10,100';
  if (parts.length > ROLLOUT_LIMITS.phases)
    return `${parts.length} phases; at most ${ROLLOUT_LIMITS.phases} are allowed`;
  const percents: number[] = [];
  for (const part of parts) {
    const value = Number(part);
    if (!/^[0-9]+(\.[0-9]+)?$/.test(part) || !(value > 0 && value <= 100))
      return `"${part.slice(0, 20)}" is not a percentage above 0 and at most 100`;
    if (percents.length > 0 && value <= percents.at(-1)!)
      return `phase ${percents.length + 1} (${value}%) does not grow from ${percents.at(-1)}%: percentages are cumulative (e.g. 1,10,100)`;
    percents.push(value);
  }
  return percents.map((percent) => ({ percent }));
}

function selectorProblem(text: string): string | null {
  try {
    parseSelector(text);
    return null;
  } catch (err) {
    return messageOf(err);
  }
}

function CreateRollout(props: { fleet: string }) {
  const { fleet } = props;
  const releases = useLive<Release[]>(
    () => call(API.listReleases, { params: { fleet } }),
    [fleet],
    true,
    (event) => event.fleet === fleet && event.kind === 'release.created',
  );
  const [release, setRelease] = useState('');
  const [selector, setSelector] = useState('');
  const [phases, setPhases] = useState('1,10,100');
  const [success, setSuccess] = useState('95');
  const [failure, setFailure] = useState('5');
  const [deadline, setDeadline] = useState('30');
  const [rate, setRate] = useState('');
  const [rollback, setRollback] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const ready = (releases.data ?? []).filter((r) => r.status === 'ready');
  const chosen = release !== '' ? release : (ready[0]?.version ?? '');
  const selectorError = selectorProblem(selector);
  const parsedPhases = parsePhases(phases);
  const phaseError = typeof parsedPhases === 'string' ? parsedPhases : null;

  const submit = async (event: Event) => {
    event.preventDefault();
    if (selectorError !== null || typeof parsedPhases === 'string' || chosen === '') return;
    const numbers = { success: Number(success), failure: Number(failure), deadline: Number(deadline) };
    const request: CreateRolloutRequest = {
      release: chosen,
      phases: parsedPhases,
      successPercent: numbers.success,
      failurePercent: numbers.failure,
      deadlineSeconds: Math.round(numbers.deadline * 60),
      rollbackOnHalt: rollback,
      ...(selector.trim() === '' ? {} : { selector: selector.trim() }),
      ...(rate.trim() === '' ? {} : { ratePerMinute: Number(rate) }),
    };
    setBusy(true);
    setError(null);
    try {
      const created = await call(API.createRollout, { params: { fleet }, body: request });
      navigate(rolloutHref(created));
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section aria-labelledby="create-rollout-title" class="panel">
      <h2 id="create-rollout-title">Start a rollout</h2>
      {releases.data === null ? (
        <Loading error={releases.error} />
      ) : ready.length === 0 ? (
        <p class="muted">No release of {fleet} is ready.</p>
      ) : (
        <form class="rollout-form" onSubmit={submit}>
          <ReadyReleaseSelect name="release" releases={ready} value={chosen} onChange={setRelease} prompt={false} />
          <label>
            Devices (selector)
            <input
              name="selector"
              value={selector}
              placeholder="every device, or e.g. tag:region=north,type:raspberrypi4-64"
              aria-invalid={selectorError !== null}
              aria-describedby="selector-problem"
              onInput={(e) => setSelector(e.currentTarget.value)}
            />
          </label>
          <p id="selector-problem" class="error" role="alert" data-testid="selector-problem">
            {selectorError ?? ''}
          </p>
          <label>
            Phases (cumulative %)
            <input
              name="phases"
              value={phases}
              aria-invalid={phaseError !== null}
              onInput={(e) => setPhases(e.currentTarget.value)}
            />
          </label>
          <p class="error" role="alert" data-testid="phases-problem">
            {phaseError ?? ''}
          </p>
          <div class="row">
            <label>
              Success %
              <input
                name="success"
                type="number"
                min={0}
                max={100}
                required
                value={success}
                onInput={(e) => setSuccess(e.currentTarget.value)}
              />
            </label>
            <label>
              Failure %
              <input
                name="failure"
                type="number"
                min={0}
                max={100}
                required
                value={failure}
                onInput={(e) => setFailure(e.currentTarget.value)}
              />
            </label>
            <label>
              Deadline (minutes)
              <input
                name="deadline"
                type="number"
                min={1}
                max={ROLLOUT_LIMITS.deadlineSeconds / 60}
                required
                value={deadline}
                onInput={(e) => setDeadline(e.currentTarget.value)}
              />
            </label>
            <label>
              Devices per minute
              <input
                name="rate"
                type="number"
                min={1}
                max={ROLLOUT_LIMITS.ratePerMinute}
                placeholder="all at once"
                value={rate}
                onInput={(e) => setRate(e.currentTarget.value)}
              />
            </label>
          </div>
          <label class="check">
            <input type="checkbox" checked={rollback} onChange={(e) => setRollback(e.currentTarget.checked)} /> Roll the
            phase back if it halts
          </label>
          <div class="row">
            <button type="submit" class="primary" disabled={busy || selectorError !== null || phaseError !== null}>
              {busy ? 'Starting…' : 'Start rollout'}
            </button>
          </div>
          <ErrorBox error={error} />
        </form>
      )}
    </section>
  );
}

/** How often a rollout's page looks again while its current phase still has devices to let in. */
const ASSIGNING_REFRESH_MS = 2_000;

/** One rollout: where each phase stands, live, its decisions, and the buttons the user's role allows. */
export function RolloutDetail(props: PageProps) {
  const fleet = props.params.fleet ?? '';
  const id = props.params.id ?? '';
  const { user } = useSession();
  const about = aboutRolloutsOf(fleet);
  const { data, error, reload } = useLive(
    () => call(API.getRollout, { params: { fleet, rollout: id } }),
    [fleet, id],
    true,
    (event) => about(event) && (event.rollout === undefined || event.rollout === id),
  );
  // Devices a phase lets in after it started (at its rate, or on the step after it began) come with no fleet
  // event of their own: while some are still to come, the page looks again every few seconds.
  const current = data?.phases[data.phase];
  const assigning =
    data?.state === 'running' && current !== undefined && current.counts.assigned < current.counts.devices;
  useEffect(() => {
    if (!assigning) return;
    const timer = setInterval(reload, ASSIGNING_REFRESH_MS);
    return () => clearInterval(timer);
  }, [assigning, reload]);
  if (data === null) return <Loading error={error} />;
  const rollout = data;
  const manage = may(user, 'fleet.rollout', fleet);
  const act = (action: 'pause' | 'resume' | 'abort') => {
    const route = { pause: API.pauseRollout, resume: API.resumeRollout, abort: API.abortRollout }[action];
    return call(route, { params: { fleet, rollout: id }, body: { note: `${action} from the dashboard` } });
  };
  return (
    <section aria-labelledby="rollout-title">
      <h1 id="rollout-title">
        Rollout <code>{rollout.id.slice(0, 8)}</code> of release {rollout.releaseVersion}
      </h1>
      <p>
        <Badge tone={ROLLOUT_TONE[rollout.state]}>
          <span data-testid="rollout-state">{rollout.state}</span>
        </Badge>{' '}
        fleet <Link href={`/rollouts?fleet=${encodeURIComponent(fleet)}`}>{fleet}</Link>, phase{' '}
        <span data-testid="rollout-phase">{currentPhase(rollout)}</span>
      </p>
      {rollout.reason === null ? null : (
        <p data-testid="rollout-reason" class="muted">
          {rollout.reason}
        </p>
      )}
      {manage ? (
        <div class="row" data-testid="rollout-actions">
          {OFFERED[rollout.state].map((action) => (
            <ActionButton
              key={action}
              label={action[0]!.toUpperCase() + action.slice(1)}
              kind={action === 'abort' ? 'danger' : undefined}
              confirm={action === 'abort' ? "Abort this rollout and send the current phase's devices back?" : undefined}
              run={() => act(action)}
              onDone={reload}
            />
          ))}
        </div>
      ) : null}
      <dl class="facts">
        <dt>Devices</dt>
        <dd>
          <code>{rollout.selector || 'every device'}</code>, canaries <code>{rollout.canary}</code>
          {rollout.excluded > 0 ? `; ${rollout.excluded} pinned devices left out` : ''}
        </dd>
        <dt>Thresholds</dt>
        <dd>
          passes at {rollout.successPercent}% healthy, halts above {rollout.failurePercent}% failed, deadline{' '}
          {Math.round(rollout.deadlineSeconds / 60)} min per device
          {rollout.ratePerMinute === null ? '' : `, ${rollout.ratePerMinute} devices per minute`}
          {rollout.rollbackOnHalt ? ', rolls back on halt' : ''}
        </dd>
        <dt>Started</dt>
        <dd>
          <Time at={rollout.createdAt} /> by {rollout.createdBy}
        </dd>
      </dl>
      <h2>Phases</h2>
      <div class="scroll">
        <table class="compact" data-testid="phases">
          <thead>
            <tr>
              <th scope="col">Phase</th>
              <th scope="col">State</th>
              <th scope="col">Devices</th>
              <th scope="col">Assigned</th>
              <th scope="col">Updated</th>
              <th scope="col">Healthy</th>
              <th scope="col">Failed</th>
              <th scope="col">Pending</th>
              <th scope="col">Progress</th>
            </tr>
          </thead>
          <tbody>
            {rollout.phases.map((phase) => (
              <tr key={phase.index} data-phase={phase.index + 1}>
                <td>
                  {phase.index + 1}: {phaseLabel(phase)}
                </td>
                <td data-field="state">{phase.state}</td>
                <td data-field="devices">{phase.counts.devices}</td>
                <td data-field="assigned">{phase.counts.assigned}</td>
                <td data-field="updated">{phase.counts.updated}</td>
                <td data-field="healthy">{phase.counts.healthy}</td>
                <td data-field="failed">{phase.counts.failed}</td>
                <td data-field="pending">{phase.counts.pending}</td>
                <td>
                  <PhaseBar phase={phase} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {may(user, 'audit.read', fleet) ? <Decisions fleet={fleet} id={id} /> : null}
    </section>
  );
}

/** How many audit entries of the fleet are read to find the rollout's: the API's most per page. */
const AUDIT_WINDOW = '1000';

/** The rollout's steps from the audit log, oldest first; device assignments are counted, not listed. */
function Decisions(props: { fleet: string; id: string }) {
  const { fleet, id } = props;
  const { data, error } = useLive<AuditEntry[]>(
    () => call(API.audit, { query: { fleet, limit: AUDIT_WINDOW } }),
    [fleet, id],
    true,
    (event) => event.fleet === fleet && event.rollout === id,
  );
  const mine = (data ?? []).filter((entry) => entry.target === `rollout:${id}`).reverse();
  const steps = mine.filter((entry) => entry.action !== 'rollout.assign');
  const assignments = mine.length - steps.length;
  return (
    <section aria-labelledby="decisions-title" class="panel">
      <h2 id="decisions-title">Decisions</h2>
      {data === null ? (
        <Loading error={error} />
      ) : steps.length === 0 ? (
        <p class="muted">Nothing recorded yet.</p>
      ) : (
        <ol class="audit" data-testid="decisions">
          {steps.map((entry) => (
            <li key={entry.id}>
              <Time at={entry.at} /> <strong>{entry.actor}</strong> {entry.action}
              {typeof entry.detail.summary === 'string' ? <span>: {entry.detail.summary}</span> : null}
              <Numbers detail={entry.detail} />
            </li>
          ))}
        </ol>
      )}
      {assignments > 0 ? <p class="muted">and {assignments} device assignment entries</p> : null}
    </section>
  );
}

/** A decision's figures (its summary is shown as words already). */
function Numbers(props: { detail: Readonly<Record<string, unknown>> }) {
  const { summary: _summary, ...rest } = props.detail;
  return Object.keys(rest).length === 0 ? null : <span class="muted"> {JSON.stringify(rest)}</span>;
}
