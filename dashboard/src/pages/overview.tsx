// The fleet at a glance: how many devices, how many online, where they stand, what they run, per fleet, and the
// progress of each fleet's active rollout.
import type { DeviceSummary, Fleet } from '../../../protocol/api.js';
import type { Rollout } from '../../../protocol/rollouts.js';
import { call } from '../api.js';
import { Badge, Loading, Stat } from '../components.js';
import { STATUS_TONE, STATUSES, statusOf } from '../device-status.js';
import { useLive } from '../live.js';
import { API } from '../routes.js';
import { Link } from '../router.js';
import { ACTIVE_STATES, PhaseBar, phaseLabel, ROLLOUT_TONE, rolloutHref } from './rollouts.js';

function countBy<T>(items: readonly T[], key: (item: T) => string): Array<[string, number]> {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
}

function policyText(fleet: Fleet): string {
  return fleet.releasePolicy.mode === 'latest' ? 'tracks its latest release' : 'pinned';
}

export function Overview() {
  const { data, error } = useLive(async () => {
    const [fleets, devices] = await Promise.all([call(API.listFleets), call(API.listDevices)]);
    const rollouts = await Promise.all(
      fleets.map((fleet) => call(API.listRollouts, { params: { fleet: fleet.name } }).catch(() => [])),
    );
    return { fleets, devices, rollouts };
  }, []);
  if (data === null) return <Loading error={error} />;
  const { fleets, devices } = data;
  const accepted = devices.filter((d: DeviceSummary) => d.authStatus === undefined || d.authStatus === 'accepted');
  const online = accepted.filter((d) => d.online).length;
  const byStatus = new Map(countBy(devices, statusOf));
  const unhealthy = accepted.filter((d) => d.error !== null || d.updateStatus === 'error').length;
  return (
    <section aria-labelledby="overview-title">
      <h1 id="overview-title">Fleet overview</h1>
      <div class="stats">
        <Stat label="devices" value={devices.length} testId="count-devices" />
        <Stat label="online" value={online} tone="good" testId="count-online" />
        <Stat label="offline" value={accepted.length - online} tone="warn" testId="count-offline" />
        <Stat label="with errors" value={unhealthy} tone={unhealthy > 0 ? 'bad' : 'muted'} testId="count-errors" />
        <Stat label="fleets" value={fleets.length} testId="count-fleets" />
      </div>
      <h2>Update status</h2>
      <ul class="chips" data-testid="by-status">
        {STATUSES.map((status) => (
          <li key={status}>
            <Link href={`/devices?status=${encodeURIComponent(status)}`}>
              <Badge tone={STATUS_TONE[status]}>{status}</Badge>{' '}
              <span data-count={status}>{byStatus.get(status) ?? 0}</span>
            </Link>
          </li>
        ))}
      </ul>
      <h2>Running releases</h2>
      <table class="compact" data-testid="by-release">
        <thead>
          <tr>
            <th scope="col">Fleet</th>
            <th scope="col">Release</th>
            <th scope="col">Devices</th>
          </tr>
        </thead>
        <tbody>
          {countBy(accepted, (d) => `${d.fleet}\u0000${d.runningRelease ?? '—'}`).map(([key, n]) => {
            const [fleet, release] = key.split('\u0000') as [string, string];
            return (
              <tr key={key}>
                <td>{fleet}</td>
                <td>{release}</td>
                <td data-release={release}>{n}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
      <h2>Fleets</h2>
      <ul class="cards">
        {fleets.map((fleet, i) => {
          const mine = devices.filter((d) => d.fleet === fleet.name);
          // Newest first: the first one still under way (or halted, waiting for an operator) is the fleet's.
          const active = (data.rollouts[i] ?? []).find((r) => ACTIVE_STATES.has(r.state));
          return (
            <li key={fleet.name} class="card">
              <h3>
                <Link href={`/devices?fleet=${encodeURIComponent(fleet.name)}`}>{fleet.name}</Link>
              </h3>
              <p>
                {mine.length} devices, {mine.filter((d) => d.online).length} online; {policyText(fleet)}
              </p>
              <p class="muted">{(fleet.deviceTypes ?? [fleet.deviceType]).join(', ')}</p>
              {active === undefined ? null : <ActiveRollout rollout={active} />}
            </li>
          );
        })}
      </ul>
    </section>
  );
}

function ActiveRollout(props: { rollout: Rollout }) {
  const { rollout } = props;
  const phase = rollout.phases[rollout.phase];
  return (
    <div data-testid="active-rollout">
      <p>
        <Link href={rolloutHref(rollout)}>Rollout of {rollout.releaseVersion}</Link>{' '}
        <Badge tone={ROLLOUT_TONE[rollout.state]}>{rollout.state}</Badge>
      </p>
      {phase === undefined ? null : (
        <>
          <p class="muted">
            phase {rollout.phase + 1} of {rollout.phases.length} ({phaseLabel(phase)}): {phase.counts.healthy} of{' '}
            {phase.counts.devices} healthy, {phase.counts.failed} failed
          </p>
          <PhaseBar phase={phase} />
        </>
      )}
    </div>
  );
}
