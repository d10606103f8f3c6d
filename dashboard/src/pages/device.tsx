// One device: what it runs and what it should, each service's state, health and restarts, the update's progress and
// what it waits for, its metrics over time, its live logs, its audit trail; and what an operator may do to it (pin,
// track its fleet, restart, stop or start a service, reboot, rename, tag, record where it was commissioned).
import { useEffect, useRef, useState } from 'preact/hooks';
import type { AuditEntry } from '../../../protocol/access.js';
import type { Release, UpdateDeviceRequest } from '../../../protocol/api.js';
import { SERVICE_ACTION_KINDS, type DeviceAction, type DeviceActionKind } from '../../../protocol/device-actions.js';
import type { DeviceDetail } from '../../../protocol/device-detail.js';
import type { DeviceLogLine } from '../../../protocol/device-logs.js';
import { may } from '../access.js';
import { call, urlOf } from '../api.js';
import { MetricsCharts } from '../charts.js';
import { ActionButton, Badge, ErrorBox, Loading, ReadyReleaseSelect, messageOf, Time } from '../components.js';
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
      {device.wrongMeter === true && (
        <p class="wrong-meter" role="alert" data-testid="wrong-meter">
          Wrong meter? The meter this device reads announces serial <code>{device.reportedMeterSerial ?? '?'}</code>,
          but it was commissioned for <code>{device.meterSerial ?? '?'}</code>.
        </p>
      )}
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
        <dd data-testid="device-tags">{(device.tags ?? []).join(', ') || '—'}</dd>
        <dt>Customer</dt>
        <dd data-testid="device-customer">{device.customer ?? '—'}</dd>
        <dt>Site</dt>
        <dd data-testid="device-site">{device.site ?? '—'}</dd>
        <dt>Address</dt>
        <dd>{device.address ?? '—'}</dd>
        <dt>Meter serial</dt>
        <dd data-testid="device-meter">
          {device.meterSerial ?? '—'}
          {device.reportedMeterSerial !== undefined && device.reportedMeterSerial !== device.meterSerial
            ? ` (the meter says ${device.reportedMeterSerial})`
            : ''}
        </dd>
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
      <MetricsCharts uuid={device.uuid} />
      {may(user, API.createDeviceAction.access.action, device.fleet) && <RemoteActions device={device} />}
      {manage && <DeviceActions device={device} onDone={reload} />}
      {may(user, API.updateDevice.access.action, device.fleet) && <Commissioning device={device} onDone={reload} />}
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
  const [tag, setTag] = useState('');
  const [tagError, setTagError] = useState<string | null>(null);
  const run = (change: () => Promise<unknown>) => {
    setTagError(null);
    change().then(props.onDone, (err: unknown) => setTagError(messageOf(err)));
  };
  const uuid = device.uuid;
  return (
    <section aria-labelledby="actions-title" class="panel">
      <h2 id="actions-title">Actions</h2>
      <div class="row">
        <ReadyReleaseSelect name="release" releases={releases.data} value={release} onChange={setRelease} />
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
        <span>Tags</span>
        {(device.tags ?? []).length === 0 && <span class="muted">none</span>}
        {(device.tags ?? []).map((t) => (
          <span key={t} class="tag">
            {t}{' '}
            <button
              type="button"
              aria-label={`remove tag ${t}`}
              onClick={() =>
                run(() =>
                  call(API.updateDevice, {
                    params: { uuid },
                    body: { tags: (device.tags ?? []).filter((x) => x !== t) },
                  }),
                )
              }
            >
              ×
            </button>
          </span>
        ))}
      </div>
      <div class="row">
        <label>
          New tag
          <input
            name="tag"
            value={tag}
            maxLength={64}
            placeholder="canary or region=north"
            onInput={(e) => setTag(e.currentTarget.value)}
          />
        </label>
        <ActionButton
          label="Add tag"
          disabled={tag.trim() === '' || (device.tags ?? []).includes(tag.trim())}
          run={async () => {
            await call(API.updateDevice, { params: { uuid }, body: { tags: [...(device.tags ?? []), tag.trim()] } });
            setTag('');
          }}
          onDone={props.onDone}
        />
      </div>
      <ErrorBox error={tagError} />
    </section>
  );
}

const FINISHED: ReadonlySet<DeviceAction['status']> = new Set(['succeeded', 'failed', 'expired']);
const ACTION_LABELS: Readonly<Record<Exclude<DeviceActionKind, 'diagnose'>, string>> = {
  restart: 'Restart',
  stop: 'Stop',
  start: 'Start',
  reboot: 'Reboot',
};

/**
 * Restart, stop or start a service, or reboot the device, through a remote action, and follow the action until
 * the device says what came of it (or it expires): the device hears of it through its push channel, or when it
 * next connects.
 */
function RemoteActions(props: { device: DeviceDetail }) {
  const uuid = props.device.uuid;
  const services = (props.device.lastReport?.services ?? []).map((s) => s.name);
  const [service, setService] = useState('');
  const [action, setAction] = useState<DeviceAction | null>(null);
  const [error, setError] = useState<string | null>(null);
  const chosen = service !== '' && services.includes(service) ? service : (services[0] ?? '');

  // Follows the action while it is unfinished; a new action or leaving the page stops following the old one.
  useEffect(() => {
    if (action === null || FINISHED.has(action.status)) return;
    let stopped = false;
    const timer = setTimeout(async () => {
      try {
        const now = await call(API.getDeviceAction, { params: { uuid, action: action.id } });
        if (!stopped) setAction(now);
      } catch (err) {
        if (!stopped) setError(`cannot read how the ${action.action} went: ${messageOf(err)}`);
      }
    }, 1000);
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [action, uuid]);

  const ask = (kind: DeviceActionKind) => async () => {
    setError(null);
    const body = SERVICE_ACTION_KINDS.includes(kind) ? { action: kind, service: chosen } : { action: kind };
    setAction(await call(API.createDeviceAction, { params: { uuid }, body }));
  };
  const busy = action !== null && !FINISHED.has(action.status);
  return (
    <section aria-labelledby="remote-title" class="panel">
      <h2 id="remote-title">Remote actions</h2>
      <div class="row">
        <label>
          Service
          <select name="service" value={chosen} onChange={(e) => setService(e.currentTarget.value)}>
            {services.length === 0 && <option value="">no service reported</option>}
            {services.map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
          </select>
        </label>
        {(['restart', 'stop', 'start'] as const).map((kind) => (
          <ActionButton
            key={kind}
            label={ACTION_LABELS[kind]}
            disabled={chosen === '' || busy}
            confirm={kind === 'start' ? undefined : `${ACTION_LABELS[kind]} ${chosen} on ${props.device.name}?`}
            run={ask(kind)}
          />
        ))}
        <ActionButton
          label={ACTION_LABELS.reboot}
          kind="danger"
          disabled={busy}
          confirm={`Reboot ${props.device.name}? Every service stops until it is back.`}
          run={ask('reboot')}
        />
      </div>
      <ErrorBox error={error} />
      {action !== null && (
        <p role="status" data-testid="action-result" data-status={action.status}>
          {action.action}
          {action.service !== null ? ` ${action.service}` : ''}:{' '}
          <Badge
            tone={
              action.status === 'succeeded'
                ? 'good'
                : action.status === 'failed' || action.status === 'expired'
                  ? 'bad'
                  : 'info'
            }
          >
            {action.status}
          </Badge>
          {action.message !== null ? ` ${action.message}` : ''}
        </p>
      )}
    </section>
  );
}

type CommissioningFields = Record<'customer' | 'site' | 'address' | 'meterSerial', string>;

/** The fields that changed, trimmed; an emptied one as null, which clears it. */
function changeOf(fields: CommissioningFields, changed: readonly (keyof CommissioningFields)[]): UpdateDeviceRequest {
  const value = (key: keyof CommissioningFields) => (fields[key].trim() === '' ? null : fields[key].trim());
  const change: UpdateDeviceRequest = {};
  for (const key of changed) change[key] = value(key);
  return change;
}

/** Who has the box, where it hangs and the meter it reads; an emptied field is cleared. */
function Commissioning(props: { device: DeviceDetail; onDone: () => void }) {
  const { device } = props;
  const initial: CommissioningFields = {
    customer: device.customer ?? '',
    site: device.site ?? '',
    address: device.address ?? '',
    meterSerial: device.meterSerial ?? '',
  };
  const [fields, setFields] = useState(initial);
  const changed = (Object.keys(initial) as (keyof CommissioningFields)[]).filter(
    (k) => fields[k].trim() !== initial[k].trim(),
  );
  const input = (key: keyof CommissioningFields, label: string, maxLength: number) => (
    <label>
      {label}
      <input
        name={key}
        value={fields[key]}
        maxLength={maxLength}
        onInput={(e) => setFields({ ...fields, [key]: e.currentTarget.value })}
      />
    </label>
  );
  return (
    <section aria-labelledby="commissioning-title" class="panel">
      <h2 id="commissioning-title">Commissioning</h2>
      <div class="row">
        {input('customer', 'Customer', 200)}
        {input('site', 'Site', 200)}
        {input('address', 'Address', 500)}
        {input('meterSerial', 'Meter serial', 96)}
        <ActionButton
          label="Save commissioning"
          disabled={changed.length === 0}
          run={() => call(API.updateDevice, { params: { uuid: device.uuid }, body: changeOf(fields, changed) })}
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
