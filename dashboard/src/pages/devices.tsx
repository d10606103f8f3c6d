// Every device the user may see, filtered by a search (short id, name, tag, fleet), status, fleet and tag; a
// selection of them can be pinned to a release or sent back to their fleet's release at once.
import { useMemo, useState } from 'preact/hooks';
import type { DeviceSummary, Release } from '../../../protocol/api.js';
import { may } from '../access.js';
import { call } from '../api.js';
import { ActionButton, Badge, Loading, Time } from '../components.js';
import { STATUS_TONE, STATUSES, searchText, statusOf } from '../device-status.js';
import { useLive } from '../live.js';
import { API } from '../routes.js';
import { Link, useLocation } from '../router.js';
import { useSession } from '../session.js';

function setQuery(name: string, value: string): void {
  const query = new URLSearchParams(location.search);
  if (value === '') query.delete(name);
  else query.set(name, value);
  const text = query.toString();
  history.replaceState(null, '', text === '' ? location.pathname : `${location.pathname}?${text}`);
  dispatchEvent(new PopStateEvent('popstate'));
}

export function Devices() {
  const { user } = useSession();
  const { query } = useLocation();
  const search = query.get('q') ?? '';
  const status = query.get('status') ?? '';
  const fleet = query.get('fleet') ?? '';
  const tag = query.get('tag') ?? '';
  const [selected, setSelected] = useState<ReadonlySet<string>>(new Set());
  const { data, error, reload } = useLive(() => call(API.listDevices), []);
  const devices = data ?? [];
  const shown = useMemo(() => {
    const words = search
      .toLowerCase()
      .split(/\s+/)
      .filter((w) => w !== '');
    return devices.filter(
      (d) =>
        (status === '' || statusOf(d) === status) &&
        (fleet === '' || d.fleet === fleet) &&
        (tag === '' || (d.tags ?? []).includes(tag)) &&
        words.every((w) => searchText(d).includes(w)),
    );
  }, [devices, search, status, fleet, tag]);
  if (data === null) return <Loading error={error} />;
  const fleets = [...new Set(devices.map((d) => d.fleet))].sort();
  const tags = [...new Set(devices.flatMap((d) => d.tags ?? []))].sort();
  const chosen = shown.filter((d) => selected.has(d.uuid));
  const toggle = (uuid: string) => {
    const next = new Set(selected);
    if (next.has(uuid)) next.delete(uuid);
    else next.add(uuid);
    setSelected(next);
  };
  return (
    <section aria-labelledby="devices-title">
      <h1 id="devices-title">Devices</h1>
      <form class="filters" onSubmit={(e) => e.preventDefault()}>
        <label>
          Search
          <input
            type="search"
            name="q"
            placeholder="short id, name, tag"
            value={search}
            onInput={(e) => setQuery('q', e.currentTarget.value)}
          />
        </label>
        <label>
          Status
          <select name="status" value={status} onChange={(e) => setQuery('status', e.currentTarget.value)}>
            <option value="">any</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Fleet
          <select name="fleet" value={fleet} onChange={(e) => setQuery('fleet', e.currentTarget.value)}>
            <option value="">any</option>
            {fleets.map((f) => (
              <option key={f} value={f}>
                {f}
              </option>
            ))}
          </select>
        </label>
        <label>
          Tag
          <select name="tag" value={tag} onChange={(e) => setQuery('tag', e.currentTarget.value)}>
            <option value="">any</option>
            {tags.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </label>
      </form>
      {chosen.length > 0 && (
        <BulkActions
          devices={chosen}
          onDone={reload}
          canManage={chosen.every((d) => may(user, 'device.manage', d.fleet))}
        />
      )}
      <p class="muted" aria-live="polite">
        {shown.length} of {devices.length} devices
      </p>
      <table class="devices">
        <thead>
          <tr>
            <th scope="col">
              <input
                type="checkbox"
                aria-label="select every device shown"
                checked={shown.length > 0 && chosen.length === shown.length}
                onChange={(e) => setSelected(e.currentTarget.checked ? new Set(shown.map((d) => d.uuid)) : new Set())}
              />
            </th>
            <th scope="col">Device</th>
            <th scope="col">Fleet</th>
            <th scope="col">Status</th>
            <th scope="col">Running</th>
            <th scope="col">Should run</th>
            <th scope="col">Last seen</th>
          </tr>
        </thead>
        <tbody>
          {shown.map((d) => (
            <DeviceRow key={d.uuid} device={d} selected={selected.has(d.uuid)} toggle={toggle} />
          ))}
        </tbody>
      </table>
    </section>
  );
}

function DeviceRow(props: { device: DeviceSummary; selected: boolean; toggle: (uuid: string) => void }) {
  const d = props.device;
  const status = statusOf(d);
  const id = d.shortId ?? d.uuid.slice(0, 8);
  return (
    <tr data-uuid={d.uuid}>
      <td>
        <input
          type="checkbox"
          aria-label={`select ${d.name}`}
          checked={props.selected}
          onChange={() => props.toggle(d.uuid)}
        />
      </td>
      <td data-label="Device">
        <Link href={`/devices/${encodeURIComponent(d.uuid)}`}>{d.name}</Link> <code>{id}</code>
        {(d.tags ?? []).map((t) => (
          <span key={t} class="tag">
            {t}
          </span>
        ))}
      </td>
      <td data-label="Fleet">{d.fleet}</td>
      <td data-label="Status">
        <Badge tone={STATUS_TONE[status]}>{status}</Badge>
      </td>
      <td data-label="Running">{d.runningRelease ?? '—'}</td>
      <td data-label="Should run">
        {d.targetRelease ?? '—'}
        {d.pinnedRelease ? ' (pinned)' : ''}
      </td>
      <td data-label="Last seen">
        <Time at={d.lastSeen} />
      </td>
    </tr>
  );
}

function BulkActions(props: { devices: DeviceSummary[]; onDone: () => void; canManage: boolean }) {
  const fleets = [...new Set(props.devices.map((d) => d.fleet))];
  const oneFleet = fleets.length === 1 ? fleets[0]! : null;
  const [release, setRelease] = useState('');
  const releases = useLive<Release[]>(
    () => (oneFleet === null ? Promise.resolve([]) : call(API.listReleases, { params: { fleet: oneFleet } })),
    [oneFleet],
    false,
  );
  if (!props.canManage) return <p class="muted">{props.devices.length} selected (you may not change them)</p>;
  return (
    <fieldset class="bulk">
      <legend>{props.devices.length} selected</legend>
      {oneFleet !== null && (
        <>
          <label>
            Release
            <select value={release} onChange={(e) => setRelease(e.currentTarget.value)}>
              <option value="">choose…</option>
              {(releases.data ?? [])
                .filter((r) => r.status === 'ready')
                .map((r) => (
                  <option key={r.id} value={r.version}>
                    {r.version}
                  </option>
                ))}
            </select>
          </label>
          <ActionButton
            label="Pin selected"
            kind="primary"
            disabled={release === ''}
            run={() =>
              Promise.all(
                props.devices.map((d) => call(API.pinDevice, { params: { uuid: d.uuid }, body: { release } })),
              )
            }
            onDone={props.onDone}
          />
        </>
      )}
      <ActionButton
        label="Track fleet"
        run={() =>
          Promise.all(props.devices.map((d) => call(API.deviceTrackFleet, { params: { uuid: d.uuid }, body: {} })))
        }
        onDone={props.onDone}
      />
      {oneFleet === null && <span class="muted">pinning needs devices of one fleet</span>}
    </fieldset>
  );
}
