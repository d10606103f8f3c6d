// What of the compose specification Skiff runs today: the one table to extend when support grows. A key that is
// valid compose but not listed here is an error naming it and its place ("services.x.deploy is not supported by
// Skiff yet"), never silently dropped: a device must run what the file says or refuse. Extension keys (x-*) are
// ignored everywhere, as the specification intends.
import { ComposeIssue, type ComposePath } from './path.js';

export const SUPPORTED = {
  /** `version` is obsolete in compose itself; `name` (the project name) is replaced by the fleet. Both are ignored. */
  topLevel: ['version', 'name', 'services', 'volumes', 'networks'],
  /** Every key here has a normaliser in normalize.ts's SERVICE_FIELDS; the compiler holds the two together. */
  service: [
    'image',
    'build',
    'command',
    'entrypoint',
    'environment',
    'labels',
    'ports',
    'volumes',
    'tmpfs',
    'networks',
    'network_mode',
    'restart',
    'privileged',
    'devices',
    'depends_on',
    'healthcheck',
    'working_dir',
    'user',
    'hostname',
    'stop_signal',
    'stop_grace_period',
    'cap_add',
    'cap_drop',
    'extra_hosts',
    'dns',
    'init',
    'shm_size',
    'read_only',
    'security_opt',
    'sysctls',
    'ulimits',
    'mem_limit',
    'cpus',
    'logging',
  ],
  /** Top-level `volumes.<name>`: only local volumes the device creates itself. */
  volume: ['driver'],
  /** Top-level `networks.<name>`: only bridge networks the device creates itself. */
  network: ['driver'],
  /** `name` and `app_protocol` only describe the port; they change nothing at run time. */
  port: ['target', 'published', 'host_ip', 'protocol', 'mode', 'name', 'app_protocol'],
  mount: ['type', 'source', 'target', 'read_only'],
  device: ['source', 'target', 'permissions'],
  dependency: ['condition', 'required'],
  serviceNetwork: ['aliases'],
  healthcheck: ['test', 'interval', 'timeout', 'retries', 'start_period', 'disable'],
} as const satisfies Record<string, readonly string[]>;

export type SupportedServiceKey = (typeof SUPPORTED.service)[number];

/** One issue per key of `value` that compose allows but Skiff does not run yet. */
export function unsupportedKeys(value: object, supported: readonly string[], at: ComposePath): ComposeIssue[] {
  return Object.keys(value)
    .filter((key) => !key.startsWith('x-') && !supported.includes(key))
    .map((key) => new ComposeIssue([...at, key], 'is not supported by Skiff yet'));
}
