// One device: what it runs and what it should, each service's state, health and restarts, the update's progress and
// what it waits for, its live logs, its audit trail; and what an operator may do to it (pin, track its fleet,
// rename, tag).
import { useEffect, useRef, useState } from 'preact/hooks';
import type { AuditEntry } from '../../../protocol/access.js';
import type { Release } from '../../../protocol/api.js';
import type { DeviceDetail } from '../../../protocol/device-detail.js';
import type { DeviceLogLine } from '../../../protocol/device-logs.js';
import { may } from '../access.js';
import { call, urlOf } from '../api.js';
import { ActionButton, Badge, ErrorBox, Loading, messageOf, Time } from '../components.js';
import { STATUS_TONE, statusOf } from '../device-status.js';
import { useLive } from '../live.js';
import { API } from '../routes.js';
import { useSession } from '../session.js';
import type { PageProps } from './index.js';

/** What keeps the device from running what it should, in words; empty when nothing does. */
function waitsFor(device: DeviceDetail): string[] {
  const reasons: string[] = [];
  const report = device.lastReport;
  if (device.targetHeldBack) reasons.push(device.targetHeldBack);
  if (!device.online) reasons.push('the device to come online');
  if (report === null) return reasons;
  const window = report.updateWindow;
  if (window && !window.downloadAllowed)
    reasons.push(`its update window to open${window.nextOpening ? ` (${window.nextOpening})` : ''}`);
  else if (window && !window.applyAllowed) reasons.push('its update window to apply the update');
  if (report.deferred) reasons.push(`${report.deferred.message} (until ${report.deferred.until})`);
  const locked = report.services.filter((s) => s.locked === true).map((s) => s.name);
  if (locked.length > 0) reasons.push(`the update lock of ${locked.join(', ')}`);
  const held = report.services.filter((s) => s.held === true).map((s) => s.name);
  if (held.length > 0) reasons.push(`held services: ${held.join(', ')}`);
  for (const download of report.downloads ?? [])
    reasons.push(`downloading ${download.image} (${download.source}): ${download.percent.toFixed(0)} %`);
  if (report.error) reasons.push(`an error: ${report.error}`);
  if (reasons.length === 0 && device.targetRelease !== device.runningRelease)
    reasons.push(
      `the device to fetch and start release ${device.targetRelease ?? '(none)'}: it reports ${report.updateStatus} on ${device.runningRelease ?? 'no release'}`,
    );
  return reasons;
}

export function Device(props: PageProps) {
  const uuid = props.params.uuid ?? '';
  const { user } = useSession();
  const { data: device, error, reload } = useLive(() => call(API.getDevice, { params: { uuid } }), [uuid]);
  if (device === null) return <Loading error={error} />;
  const status = statusOf(device);
  const report = device.lastReport;
  const manage = may(user, 'device.manage', device.fleet);
  const waiting = status === 'up to date' ? [] : waitsFor(device);
  return (
    <section aria-labelledby="device-title">
      <h1 id="device-title">
        {device.name} <code>{device.shortId ?? device.uuid.slice(0, 8)}</code>
      </h1>
      <p>
        <Badge tone={STATUS_TONE[status]}>{status}</Badge> {device.online ? 'online' : 'offline'}, last seen{' '}
        <Time at={device.lastSeen} />
      </p>
      <ErrorBox error={error} />
      <dl class="facts">
        <dt>Fleet</dt>
        <dd>{device.fleet}</dd>
        <dt>Runs</dt>
        <dd data-testid="running-release">{device.runningRelease ?? '—'}</dd>
        <dt>Should run</dt>
        <dd data-testid="target-release">{device.targetRelease ?? '—'}</dd>
        <dt>Pinned to</dt>
        <dd data-testid="pinned-release">{device.pinnedRelease ?? 'follows its fleet'}</dd>
        <dt>Update</dt>
        <dd>
          {report?.updateStatus ?? '—'}
          {report?.progress ? ` (${report.progress.imagesPresent} of ${report.progress.imagesTotal} images)` : ''}
        </dd>
        {waiting.length > 0 && (
          <>
            <dt>Waits for</dt>
            <dd>
              <ul>
                {waiting.map((w) => (
                  <li key={w}>{w}</li>
                ))}
              </ul>
            </dd>
          </>
        )}
        <dt>Type</dt>
        <dd>
          {device.deviceType}
          {device.platform ? ` (${device.platform})` : ''}
        </dd>
        <dt>Tags</dt>
        <dd>{(device.tags ?? []).join(', ') || '—'}</dd>
        {device.note ? (
          <>
            <dt>Note</dt>
            <dd>{device.note}</dd>
          </>
        ) : null}
        {report?.metrics && (
          <>
            <dt>Load</dt>
            <dd>
              CPU {report.metrics.cpuPercent.toFixed(0)} %, memory{' '}
              {((100 * report.metrics.memoryUsedBytes) / Math.max(1, report.metrics.memoryTotalBytes)).toFixed(0)} %,
              disk {((100 * report.metrics.diskUsedBytes) / Math.max(1, report.metrics.diskTotalBytes)).toFixed(0)} %
              {report.metrics.temperatureCelsius !== null ? `, ${report.metrics.temperatureCelsius.toFixed(0)} °C` : ''}
            </dd>
          </>
        )}
      </dl>
      <h2>Services</h2>
      {report === null || report.services.length === 0 ? (
        <p class="muted">No service reported.</p>
      ) : (
        <table class="compact">
          <thead>
            <tr>
              <th scope="col">Service</th>
              <th scope="col">State</th>
              <th scope="col">Health</th>
              <th scope="col">Restarts</th>
              <th scope="col">Image</th>
            </tr>
          </thead>
          <tbody>
            {report.services.map((s) => (
              <tr key={s.name}>
                <td>{s.name}</td>
                <td>
                  <Badge
                    tone={
                      s.state === 'running' ? 'good' : s.state === 'restarting' || s.state === 'dead' ? 'bad' : 'warn'
                    }
                  >
                    {s.state}
                  </Badge>
                  {s.restartLoop ? <Badge tone="bad">restart loop</Badge> : null}
                </td>
                <td>
                  {s.health ?? '—'}
                  {s.appHealth
                    ? ` · app ${s.appHealth.ok ? 'ok' : 'failing'}${s.appHealth.detail ? `: ${s.appHealth.detail}` : ''}`
                    : ''}
                </td>
                <td>{s.restarts ?? 0}</td>
                <td>
                  <code class="wrap">{s.image}</code>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {manage && <DeviceActions device={device} onDone={reload} />}
      {may(user, 'device.logs', device.fleet) && <Logs uuid={device.uuid} />}
      {may(user, 'audit.read', device.fleet) && <DeviceAudit uuid={device.uuid} />}
    </section>
  );
}

function DeviceActions(props: { device: DeviceDetail; onDone: () => void }) {
  const { device } = props;
  const releases = useLive<Release[]>(
    () => call(API.listReleases, { params: { fleet: device.fleet } }),
    [device.fleet],
    false,
  );
  const [release, setRelease] = useState('');
  const [name, setName] = useState(device.name);
  const [tags, setTags] = useState((device.tags ?? []).join(' '));
  const uuid = device.uuid;
  return (
    <section aria-labelledby="actions-title" class="panel">
      <h2 id="actions-title">Actions</h2>
      <div class="row">
        <label>
          Release
          <select name="release" value={release} onChange={(e) => setRelease(e.currentTarget.value)}>
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
          label="Pin"
          kind="primary"
          disabled={release === ''}
          run={() => call(API.pinDevice, { params: { uuid }, body: { release } })}
          onDone={props.onDone}
        />
        <ActionButton
          label="Track fleet"
          disabled={!device.pinnedRelease}
          run={() => call(API.deviceTrackFleet, { params: { uuid }, body: {} })}
          onDone={props.onDone}
        />
      </div>
      <div class="row">
        <label>
          Name
          <input name="name" value={name} maxLength={128} onInput={(e) => setName(e.currentTarget.value)} />
        </label>
        <ActionButton
          label="Rename"
          disabled={name.trim() === '' || name === device.name}
          run={() => call(API.updateDevice, { params: { uuid }, body: { name: name.trim() } })}
          onDone={props.onDone}
        />
      </div>
      <div class="row">
        <label>
          Tags (space-separated)
          <input name="tags" value={tags} onInput={(e) => setTags(e.currentTarget.value)} />
        </label>
        <ActionButton
          label="Set tags"
          run={() =>
            call(API.updateDevice, {
              params: { uuid },
              body: { tags: [...new Set(tags.split(/\s+/).filter((t) => t !== ''))] },
            })
          }
          onDone={props.onDone}
        />
      </div>
    </section>
  );
}

const MAX_LOG_LINES = 1000;

/** The device's service logs, streamed from the API's follow route while this panel is open and following. */
function Logs(props: { uuid: string }) {
  const [following, setFollowing] = useState(false);
  const [lines, setLines] = useState<DeviceLogLine[]>([]);
  const [error, setError] = useState<string | null>(null);
  const box = useRef<HTMLPreElement>(null);
  useEffect(() => {
    if (!following) return;
    setError(null);
    const source = new EventSource(urlOf(API.followDeviceLogs, { uuid: props.uuid }, { tail: 100 }));
    source.addEventListener('lines', (event) => {
      try {
        const batch = JSON.parse((event as MessageEvent<string>).data) as { lines?: DeviceLogLine[] };
        setLines((old) => [...old, ...(batch.lines ?? [])].slice(-MAX_LOG_LINES));
      } catch (err) {
        setError(`a log event could not be read: ${messageOf(err)}`);
      }
    });
    source.addEventListener('gap', () => setError('some lines were lost before they could be read'));
    source.onerror = () => {
      setError('the log stream broke (the device may be offline); retrying');
    };
    return () => source.close();
  }, [following, props.uuid]);
  useEffect(() => {
    if (box.current) box.current.scrollTop = box.current.scrollHeight;
  }, [lines]);
  return (
    <section aria-labelledby="logs-title" class="panel">
      <h2 id="logs-title">Logs</h2>
      <button type="button" aria-pressed={following} onClick={() => setFollowing(!following)}>
        {following ? 'Stop following' : 'Follow logs'}
      </button>
      <ErrorBox error={error} />
      <pre class="logs" ref={box} role="log" aria-label="log lines" data-testid="log-lines">
        {lines
          .map((l) => `${l.timestamp.slice(11, 19)} ${l.service}${l.stream === 'stderr' ? '!' : ' '} ${l.text}`)
          .join('\n')}
      </pre>
    </section>
  );
}

function DeviceAudit(props: { uuid: string }) {
  const { data, error } = useLive<AuditEntry[]>(
    () => call(API.audit, { query: { device: props.uuid, limit: '50' } }),
    [props.uuid],
  );
  return (
    <section aria-labelledby="audit-title" class="panel">
      <h2 id="audit-title">Audit trail</h2>
      {data === null ? <Loading error={error} /> : <AuditList entries={data} />}
    </section>
  );
}

export function AuditList(props: { entries: AuditEntry[] }) {
  if (props.entries.length === 0) return <p class="muted">Nothing recorded.</p>;
  return (
    <ol class="audit">
      {props.entries.map((e) => (
        <li key={e.id}>
          <Time at={e.at} /> <strong>{e.actor}</strong> {e.action} <code>{e.target}</code>
          {Object.keys(e.detail).length > 0 ? <span class="muted"> {JSON.stringify(e.detail)}</span> : null}
        </li>
      ))}
    </ol>
  );
}
