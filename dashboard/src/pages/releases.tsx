// Every fleet's releases: version, status, services, platforms, who pushed it, and how many devices run it.
import type { DeviceSummary, Fleet, Release } from '../../../protocol/api.js';
import { call } from '../api.js';
import { Badge, Loading, Time } from '../components.js';
import { useLive } from '../live.js';
import { API } from '../routes.js';
import { Link } from '../router.js';

export function Releases() {
  const { data, error } = useLive(async () => {
    const [fleets, devices] = await Promise.all([call(API.listFleets), call(API.listDevices)]);
    const releases = await Promise.all(fleets.map((f) => call(API.listReleases, { params: { fleet: f.name } })));
    return { fleets, devices, releases };
  }, []);
  if (data === null) return <Loading error={error} />;
  return (
    <section aria-labelledby="releases-title">
      <h1 id="releases-title">Releases</h1>
      {data.fleets.map((fleet, i) => (
        <FleetReleases key={fleet.name} fleet={fleet} releases={data.releases[i] ?? []} devices={data.devices} />
      ))}
    </section>
  );
}

function FleetReleases(props: { fleet: Fleet; releases: Release[]; devices: DeviceSummary[] }) {
  const { fleet } = props;
  const pinned = fleet.releasePolicy.mode === 'pinned' ? fleet.releasePolicy.releaseId : null;
  return (
    <>
      <h2>
        {fleet.name} <span class="muted">{pinned === null ? 'tracks its latest release' : 'pinned'}</span>
      </h2>
      {props.releases.length === 0 ? (
        <p class="muted">No release yet.</p>
      ) : (
        <table class="compact">
          <thead>
            <tr>
              <th scope="col">Version</th>
              <th scope="col">Status</th>
              <th scope="col">Services</th>
              <th scope="col">Platforms</th>
              <th scope="col">Runs on</th>
              <th scope="col">Pushed</th>
            </tr>
          </thead>
          <tbody>
            {props.releases.map((r) => {
              const running = props.devices.filter(
                (d) => d.fleet === fleet.name && d.runningRelease === r.version,
              ).length;
              return (
                <tr key={r.id}>
                  <td>
                    {r.version} {r.id === pinned ? <Badge tone="info">fleet pin</Badge> : null}
                  </td>
                  <td>
                    <Badge tone={r.status === 'ready' ? 'good' : r.status === 'failed' ? 'bad' : 'warn'}>
                      {r.status}
                    </Badge>
                    {r.review?.approval === 'pending' ? <Badge tone="warn">awaits approval</Badge> : null}
                  </td>
                  <td>{r.services.join(', ')}</td>
                  <td>{(r.platforms ?? []).join(', ') || '—'}</td>
                  <td>
                    <Link href={`/devices?fleet=${encodeURIComponent(fleet.name)}`}>{running} devices</Link>
                  </td>
                  <td>
                    <Time at={r.createdAt} />
                    {r.pushedBy ? ` by ${r.pushedBy}` : ''}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </>
  );
}
