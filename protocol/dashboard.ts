// The dashboard's pages live under these first path segments (and at `/`). The API answers the app's page on them
// and only on them, so a mistyped API path (`/v2/fleets`) still gets a problem, not a page; the app's page table
// (dashboard/src/pages/index.ts) may use no other. A section for a page still to come costs nothing here.
export const DASHBOARD_SECTIONS = ['devices', 'releases', 'rollouts', 'fleets', 'audit', 'admin', 'metrics'] as const;
export type DashboardSection = (typeof DASHBOARD_SECTIONS)[number];

/** A path of a dashboard page: `/`, or one under a section, of plain segments only. */
export function isDashboardPath(path: string): boolean {
  if (path === '/') return true;
  const segments = path.split('/').slice(1);
  if (segments.some((segment) => !/^[A-Za-z0-9._~-]{1,128}$/.test(segment) || segment === '..' || segment === '.'))
    return false;
  return (DASHBOARD_SECTIONS as readonly string[]).includes(segments[0] ?? '');
}
