// The app's pages: path, title in the navigation, the action the user needs to see it (the API refuses the data
// anyway; hiding spares them a page of errors), and the component. A page is one entry here.
import type { ComponentType } from 'preact';
import type { Action } from '../../../protocol/access.js';
import type { DashboardSection } from '../../../protocol/dashboard.js';
import { Admin } from './admin.js';
import { Audit } from './audit.js';
import { Device } from './device.js';
import { Devices } from './devices.js';
import { Overview } from './overview.js';
import { Releases } from './releases.js';
import { RolloutDetail, Rollouts } from './rollouts.js';

export interface PageProps {
  params: Readonly<Record<string, string>>;
}

export interface Page {
  /** `/` or under one of the sections the API serves the app on (protocol/dashboard.ts). */
  path: '/' | `/${DashboardSection}` | `/${DashboardSection}/${string}`;
  /** Shown in the navigation; null: reached by links only. */
  title: string | null;
  needs: Action | readonly Action[];
  /** Given the path's parameters by name (router.ts's match). */
  component: ComponentType<PageProps>;
}

export const PAGES: readonly Page[] = [
  { path: '/', title: 'Overview', needs: 'read', component: Overview },
  { path: '/devices', title: 'Devices', needs: 'read', component: Devices },
  { path: '/devices/:uuid', title: null, needs: 'read', component: Device },
  { path: '/releases', title: 'Releases', needs: 'read', component: Releases },
  { path: '/rollouts', title: 'Rollouts', needs: 'read', component: Rollouts },
  { path: '/rollouts/:fleet/:id', title: null, needs: 'read', component: RolloutDetail },
  { path: '/audit', title: 'Audit log', needs: 'audit.read', component: Audit },
  { path: '/admin', title: 'Admin', needs: ['user.manage', 'provisioning-key.read'], component: Admin },
];
