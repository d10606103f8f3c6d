// Who changed what and when, newest first, a page at a time.
import { useState } from 'preact/hooks';
import type { AuditEntry } from '../../../protocol/access.js';
import { call } from '../api.js';
import { Loading } from '../components.js';
import { useLive } from '../live.js';
import { API } from '../routes.js';
import { AuditList } from './device.js';

const PAGE = 100;

export function Audit() {
  const [fleet, setFleet] = useState('');
  const [before, setBefore] = useState<number[]>([]);
  const cursor = before.at(-1);
  const { data, error } = useLive<AuditEntry[]>(
    () =>
      call(API.audit, {
        query: {
          limit: String(PAGE),
          ...(fleet === '' ? {} : { fleet }),
          ...(cursor === undefined ? {} : { before: String(cursor) }),
        },
      }),
    [fleet, cursor],
    cursor === undefined,
  );
  return (
    <section aria-labelledby="audit-page-title">
      <h1 id="audit-page-title">Audit log</h1>
      <form class="filters" onSubmit={(e) => e.preventDefault()}>
        <label>
          Fleet
          <input
            name="fleet"
            value={fleet}
            placeholder="every fleet"
            onChange={(e) => {
              setBefore([]);
              setFleet(e.currentTarget.value.trim());
            }}
          />
        </label>
      </form>
      {data === null ? <Loading error={error} /> : <AuditList entries={data} />}
      <div class="row">
        <button type="button" disabled={before.length === 0} onClick={() => setBefore(before.slice(0, -1))}>
          Newer
        </button>
        <button
          type="button"
          disabled={data === null || data.length < PAGE}
          onClick={() => data !== null && data.length > 0 && setBefore([...before, data.at(-1)!.id])}
        >
          Older
        </button>
      </div>
    </section>
  );
}
