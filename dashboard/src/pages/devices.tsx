// Every device the user may see, narrowed by a device selector in the one grammar (protocol/device-selector.ts:
// checked here as it is typed, answered by the API's `?filter=`), a search (short id, name, tag, customer, site,
// fleet), status, fleet and tag. A selection of them can be pinned to a release, sent back to their fleet's release,
// tagged, untagged or revoked at once, each as the API's bulk operation on a selector.
import { useMemo, useState } from 'preact/hooks';
import type { DeviceSummary, Release } from '../../../protocol/api.js';
import type { BulkResult } from '../../../protocol/device-groups.js';
import { parseSelector, SELECTOR_LIMITS, SelectorError } from '../../../protocol/device-selector.js';
import { may } from '../access.js';
import { call } from '../api.js';
import { ActionButton, Badge, ErrorBox, Loading, ReadyReleaseSelect, Time } from '../components.js';
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

/** What the search box matches: the shared search text, and where the device was commissioned. */
function matchText(device: DeviceSummary): string {
  return `${searchText(device)} ${device.customer ?? ''} ${device.site ?? ''}`.toLowerCase();
}

/** The grammar's own message for a selector that does not parse; null when it does. */
function selectorProblem(text: string): string | null {
  try {
    parseSelector(text);
    return null;
  } catch (err) {
    return err instanceof SelectorError ? err.message : String(err);
  }
}

/**
 * What a bulk operation acts on, per fleet (the API's bulk routes are a fleet's): either the selector the list is
 * filtered by, when every device it picks is selected, or the hand-picked devices as `id:` alternatives. Those
 * name full uuids: an `id:` value matches a prefix, and a uuid is a prefix of no other device's uuid or short id,
 * whereas a short id could be the start of another device's uuid. A long selection is sent in several requests,
 * each within the selector's bounds.
 */
export interface BulkTarget {
  fleet: string;
  selector: string;
  all?: true;
}

const UUID_CHARS = 36;
const IDS_PER_SELECTOR = Math.min(
  SELECTOR_LIMITS.values,
  Math.floor((SELECTOR_LIMITS.chars - 'id:'.length + 1) / (UUID_CHARS + 1)),
);

export function targetsOf(devices: readonly DeviceSummary[], filter: string | null): BulkTarget[] {
  const byFleet = new Map<string, string[]>();
  for (const d of devices) byFleet.set(d.fleet, [...(byFleet.get(d.fleet) ?? []), d.uuid]);
  const targets: BulkTarget[] = [];
  for (const [fleet, uuids] of byFleet) {
    if (filter !== null) {
      targets.push(filter === '' ? { fleet, selector: '', all: true } : { fleet, selector: filter });
      continue;
    }
    for (let i = 0; i < uuids.length; i += IDS_PER_SELECTOR)
      targets.push({ fleet, selector: `id:${uuids.slice(i, i + IDS_PER_SELECTOR).join('|')}` });
  }
  return targets;
}

/** Runs a bulk operation on each target in turn; the counts summed. */
async function bulk(
  targets: readonly BulkTarget[],
  send: (target: BulkTarget) => Promise<BulkResult>,
): Promise<{ matched: number; changed: number }> {
  let matched = 0;
  let changed = 0;
  for (const target of targets) {
    const result = await send(target);
    matched += result.matched;
    changed += result.changed;
  }
  return { matched, changed };
}

export function Devices() {
  const { user } = useSession();
  const { query } = useLocation();
  const search = query.get('q') ?? '';
  const status = query.get('status') ?? '';
  const fleet = query.get('fleet') ?? '';
  const tag = query.get('tag') ?? '';
  const filter = query.get('filter') ?? '';
  const [draft, setDraft] = useState(filter);
  const problem = selectorProblem(draft);
  const [selected, setSelected] = useState<ReadonlySet<string>>(new Set());
  const [bulkResult, setBulkResult] = useState<string | null>(null);
  const { data, error, reload } = useLive(
    () => call(API.listDevices, filter.trim() === '' ? {} : { query: { filter: filter.trim() } }),
    [filter],
  );
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
        words.every((w) => matchText(d).includes(w)),
    );
  }, [devices, search, status, fleet, tag]);
  const fleets = [...new Set(devices.map((d) => d.fleet))].sort();
  const tags = [...new Set(devices.flatMap((d) => d.tags ?? []))].sort();
  const chosen = shown.filter((d) => selected.has(d.uuid));
  // The selector itself stands for the selection only when the list shows exactly what it picks.
  const narrowedHere = search !== '' || status !== '' || fleet !== '' || tag !== '';
  const everyMatch = !narrowedHere && chosen.length > 0 && chosen.length === devices.length;
  const toggle = (uuid: string) => {
    const next = new Set(selected);
    if (next.has(uuid)) next.delete(uuid);
    else next.add(uuid);
    setSelected(next);
  };
  return (
    <section aria-labelledby="devices-title">
      <h1 id="devices-title">Devices</h1>
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          if (problem === null) {
            setSelected(new Set());
            setQuery('filter', draft.trim());
          }
        }}
      >
        <label>
          Selector
          <input
            type="text"
            name="filter"
            placeholder="tag:region=north,site:roof-*"
            maxLength={SELECTOR_LIMITS.chars}
            spellcheck={false}
            autocomplete="off"
            aria-invalid={problem !== null}
            aria-describedby="selector-problem"
            value={draft}
            onInput={(e) => setDraft(e.currentTarget.value)}
          />
        </label>
        <button type="submit" disabled={problem !== null}>
          Filter
        </button>
        <span id="selector-problem">
          <ErrorBox error={problem} />
        </span>
        <label>
          Search
          <input
            type="search"
            name="q"
            placeholder="short id, name, tag, customer, site"
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
      {data === null ? (
        <Loading error={error} />
      ) : (
        <>
          <ErrorBox error={error} />
          {chosen.length > 0 && (
            <BulkActions
              devices={chosen}
              targets={targetsOf(chosen, everyMatch ? filter.trim() : null)}
              onResult={(text) => {
                setBulkResult(text);
                setSelected(new Set());
                reload();
              }}
              canManage={chosen.every((d) => may(user, API.bulkTag.access.action, d.fleet))}
            />
          )}
          {bulkResult !== null && (
            <p role="status" class="bulk-result" data-testid="bulk-result">
              {bulkResult}
            </p>
          )}
          <p class="muted" aria-live="polite" data-testid="device-count">
            {shown.length} of {devices.length} devices{filter.trim() !== '' ? ` the selector ${filter} picks` : ''}
            {shown.length > 0 && chosen.length < shown.length && (
              <>
                {' '}
                <button type="button" onClick={() => setSelected(new Set(shown.map((d) => d.uuid)))}>
                  Select all {shown.length} that match
                </button>
              </>
            )}
          </p>
          <table class="devices">
            <thead>
              <tr>
                <th scope="col">
                  <input
                    type="checkbox"
                    aria-label="select every device shown"
                    checked={shown.length > 0 && chosen.length === shown.length}
                    onChange={(e) =>
                      setSelected(e.currentTarget.checked ? new Set(shown.map((d) => d.uuid)) : new Set())
                    }
                  />
                </th>
                <th scope="col">Device</th>
                <th scope="col">Fleet</th>
                <th scope="col">Customer / site</th>
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
        </>
      )}
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
        {d.wrongMeter === true && <Badge tone="bad">wrong meter?</Badge>}
        {d.revokedAt ? <Badge tone="muted">revoked</Badge> : null}
      </td>
      <td data-label="Fleet">{d.fleet}</td>
      <td data-label="Customer / site">
        {d.customer ?? '—'}
        {d.site ? ` / ${d.site}` : ''}
      </td>
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

/** Tags as typed into the bulk tag box: space-separated. */
const tagsIn = (text: string): string[] => [...new Set(text.split(/\s+/).filter((t) => t !== ''))];

function BulkActions(props: {
  devices: DeviceSummary[];
  targets: BulkTarget[];
  /** What the operation did, in words: the selection is then cleared. */
  onResult: (text: string) => void;
  canManage: boolean;
}) {
  const fleets = [...new Set(props.devices.map((d) => d.fleet))];
  const oneFleet = fleets.length === 1 ? fleets[0]! : null;
  const [release, setRelease] = useState('');
  const [tagText, setTagText] = useState('');
  const releases = useLive<Release[]>(
    () => (oneFleet === null ? Promise.resolve([]) : call(API.listReleases, { params: { fleet: oneFleet } })),
    [oneFleet],
    false,
  );
  if (!props.canManage) return <p class="muted">{props.devices.length} selected (you may not change them)</p>;
  const what = props.targets.some((t) => t.selector.startsWith('id:'))
    ? `${props.devices.length} selected`
    : `every device the selector picks (${props.devices.length})`;
  const run = (verb: string, send: (target: BulkTarget) => Promise<BulkResult>) => async () => {
    const { matched, changed } = await bulk(props.targets, send);
    props.onResult(`${verb}: ${matched} matched, ${changed} changed`);
  };
  const tags = tagsIn(tagText);
  return (
    <fieldset class="bulk">
      <legend>{what}</legend>
      {oneFleet !== null && (
        <>
          <ReadyReleaseSelect releases={releases.data} value={release} onChange={setRelease} />
          <ActionButton
            label="Pin selected"
            kind="primary"
            disabled={release === ''}
            run={run(`Pinned to ${release}`, (t) =>
              call(API.bulkPin, { params: { fleet: t.fleet }, body: { selector: t.selector, all: t.all, release } }),
            )}
          />
        </>
      )}
      <ActionButton
        label="Track fleet"
        run={run('Following their fleet', (t) =>
          call(API.bulkTrackFleet, { params: { fleet: t.fleet }, body: { selector: t.selector, all: t.all } }),
        )}
      />
      <label>
        Tags
        <input
          name="bulk-tags"
          placeholder="canary region=north"
          value={tagText}
          onInput={(e) => setTagText(e.currentTarget.value)}
        />
      </label>
      <ActionButton
        label="Add tags"
        disabled={tags.length === 0}
        run={run(`Tagged ${tags.join(' ')}`, (t) =>
          call(API.bulkTag, { params: { fleet: t.fleet }, body: { selector: t.selector, all: t.all, add: tags } }),
        )}
      />
      <ActionButton
        label="Remove tags"
        disabled={tags.length === 0}
        run={run(`Untagged ${tags.join(' ')}`, (t) =>
          call(API.bulkTag, { params: { fleet: t.fleet }, body: { selector: t.selector, all: t.all, remove: tags } }),
        )}
      />
      <ActionButton
        label="Revoke"
        kind="danger"
        confirm={`Revoke ${what}? Their credentials stop working at once; each must be registered again.`}
        run={run('Revoked', (t) =>
          call(API.bulkRevoke, { params: { fleet: t.fleet }, body: { selector: t.selector, all: t.all } }),
        )}
      />
      {oneFleet === null && <span class="muted">pinning needs devices of one fleet</span>}
    </fieldset>
  );
}
