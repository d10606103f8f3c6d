// What the engine runs right now, as the planner sees it: plain data. ../reconcile/current-state.ts reads it from
// the engine before every plan; the planner, the reporter and the image cleanup consume it.

export type ContainerRunState = 'created' | 'running' | 'restarting' | 'exited' | 'paused' | 'dead' | 'removing';
export type ContainerHealth = 'healthy' | 'unhealthy' | 'starting';

export interface ObservedContainer {
  id: string;
  name: string;
  /** Null for a managed container without a service label: it belongs to no service and is removed. */
  service: string | null;
  releaseId: string | null;
  configHash: string | null;
  image: string;
  state: ContainerRunState;
  health: ContainerHealth | null;
  exitCode: number | null;
  /** How often the engine restarted it since it was created; absent: not known. */
  restartCount?: number;
  createdAt: string;
  networks: string[];
  stopTimeoutSeconds: number | null;
}

export interface ObservedNetwork {
  id: string;
  name: string;
  /** Created by the supervisor; only such a network is ever removed. */
  managed: boolean;
  /** The engine counts an endpoint on it. */
  inUse: boolean;
}

export interface CurrentState {
  /** Managed containers only. */
  containers: ObservedContainer[];
  /** Of the image references asked about, those the engine has. */
  images: string[];
  /** Every network: a name the target wants may exist without Skiff's labels, and is then used as it is. */
  networks: ObservedNetwork[];
  /** Every volume name (a volume the release names may predate Skiff). */
  volumes: string[];
}
