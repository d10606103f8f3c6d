// How a device's local API state reads to a person (`skiff local status`, the end of `skiff push --local`).
import type { LocalState } from '../../protocol/local-api.js';
import { renderFields, renderTable } from './output.js';

const SHORT_ID = 12;

function yesNo(value: boolean | null): string | null {
  return value === null ? null : value ? 'yes' : 'no';
}

export function localStateView(state: LocalState): string {
  const { report } = state;
  const fields = renderFields([
    ['Device', state.uuid],
    [
      'Local mode',
      state.localMode ? 'yes: the fleet target waits until `skiff local leave`' : 'no: runs its fleet target',
    ],
    ['Target release', report.targetReleaseId],
    ['Running release', report.releaseId],
    ['Update status', report.updateStatus],
    ['Error', report.error],
    ['API reachable', yesNo(state.apiReachable)],
    ['Supervisor', report.supervisorVersion],
  ]);
  if (report.services.length === 0) return `${fields}\nNo services.\n`;
  const table = renderTable(
    ['SERVICE', 'STATE', 'CONTAINER', 'RELEASE', 'IMAGE'],
    report.services.map((s) => [
      s.name,
      s.health === null ? s.state : `${s.state} (${s.health})`,
      s.containerId === null ? null : s.containerId.slice(0, SHORT_ID),
      s.releaseId,
      s.image,
    ]),
  );
  return `${fields}\n${table}`;
}
