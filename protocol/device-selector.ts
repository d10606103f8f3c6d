// Which devices an operation is for, written the way operators think of them: `tag:region=north,type:raspberrypi4-64`.
// One grammar for `skiff devices --filter`, saved groups, bulk operations and rollouts, parsed here once and matched
// against a device's attributes by the same function on the API and in the CLI, so a selector never means one
// thing in a listing and another in a rollout.
//
//   selector := term ("," term)*            every term must hold (AND)
//   term     := ["!"] key ":" value ("|" value)*   any of the values may hold (OR); "!" negates the term
//
// Values are compared exactly, except `name` and `site`/`customer`, where `*` matches any run of characters, and
// `id`, which matches a prefix of the uuid or short id. `group:NAME` stands for a fleet's saved selector: the API
// resolves it (withGroups) before matching, since only it knows the fleet's groups; a saved group names no group.

/** Bounds: a selector comes from a person or a script, and is stored in saved groups and rollouts. */
export const SELECTOR_LIMITS = { chars: 1024, terms: 32, values: 64 } as const;

/** The attributes a selector can look at; the API fills them from its store, the CLI from a device listing. */
export interface DeviceAttributes {
  uuid: string;
  shortId: string | null;
  name: string;
  fleet: string;
  deviceType: string;
  /** The host OS version the device reported; null: never said. */
  osVersion: string | null;
  /** Version and id of the release it reports running; null: none. */
  releaseVersion: string | null;
  releaseId: string | null;
  /** Bare labels (`canary`) and key=value pairs (`region=north`). */
  tags: readonly string[];
  customer: string | null;
  site: string | null;
  online: boolean;
  /** converged, downloading, applying, error; null: it never reported. */
  updateStatus: string | null;
}

export const SELECTOR_KEYS = {
  tag: 'a tag: tag:canary, or tag:region=north (tag:region matches any region)',
  type: 'the device type, e.g. type:raspberrypi4-64',
  os: 'the host OS version it runs, e.g. os:1.4.0',
  release: 'the release it runs, by version or id prefix, e.g. release:1.2.0',
  fleet: 'the fleet, e.g. fleet:meters',
  customer: 'the customer it was commissioned for (* matches anything), e.g. customer:acme*',
  site: 'the site it was commissioned at (* matches anything), e.g. site:roof-12',
  name: 'its name (* matches anything), e.g. name:kitchen*',
  id: 'a prefix of its uuid or short id, e.g. id:8GTC',
  status: 'its update status: converged, downloading, applying, error, or none',
  online: 'online:yes or online:no',
  group: "a saved group of the device's fleet, e.g. group:canaries",
} as const;
export type SelectorKey = keyof typeof SELECTOR_KEYS;

export interface SelectorTerm {
  key: SelectorKey;
  values: string[];
  negated: boolean;
}

export interface DeviceSelector {
  /** The text as given, trimmed: what is stored and shown. */
  text: string;
  terms: SelectorTerm[];
  /** The saved selectors its `group:` terms name, by group name, once resolved (withGroups). */
  groups?: Readonly<Record<string, DeviceSelector>>;
}

/** A selector that does not parse: says where and what is allowed. */
export class SelectorError extends Error {
  constructor(
    readonly selector: string,
    readonly detail: string,
  ) {
    super(`the device selector ${JSON.stringify(selector.slice(0, 80))} is not valid: ${detail}`);
    this.name = 'SelectorError';
  }
}

const isKey = (key: string): key is SelectorKey => Object.hasOwn(SELECTOR_KEYS, key);
const VALUE = /^[A-Za-z0-9._:=/*@+-]+$/;
const allowedKeys = (): string => Object.keys(SELECTOR_KEYS).join(', ');

/** Parses `text`; the empty selector selects every device. Throws SelectorError. */
export function parseSelector(text: string): DeviceSelector {
  const trimmed = text.trim();
  if (trimmed.length > SELECTOR_LIMITS.chars)
    throw new SelectorError(text, `it has ${trimmed.length} characters; at most ${SELECTOR_LIMITS.chars} are allowed`);
  if (trimmed === '') return { text: '', terms: [] };
  const parts = trimmed.split(',').map((part) => part.trim());
  if (parts.length > SELECTOR_LIMITS.terms)
    throw new SelectorError(text, `it has ${parts.length} terms; at most ${SELECTOR_LIMITS.terms} are allowed`);
  const terms = parts.map((part, index): SelectorTerm => {
    const where = `term ${index + 1} (${JSON.stringify(part.slice(0, 80))})`;
    if (part === '') throw new SelectorError(text, `${where} is empty; write terms as key:value separated by commas`);
    const negated = part.startsWith('!');
    const body = negated ? part.slice(1) : part;
    const colon = body.indexOf(':');
    if (colon <= 0) throw new SelectorError(text, `${where} is not key:value; keys are ${allowedKeys()}`);
    const key = body.slice(0, colon).toLowerCase();
    if (!isKey(key)) throw new SelectorError(text, `${where} has the unknown key "${key}"; keys are ${allowedKeys()}`);
    const values = body.slice(colon + 1).split('|');
    if (values.length > SELECTOR_LIMITS.values)
      throw new SelectorError(text, `${where} lists ${values.length} values; at most ${SELECTOR_LIMITS.values}`);
    for (const value of values) {
      if (!VALUE.test(value))
        throw new SelectorError(
          text,
          `${where} has the value ${JSON.stringify(value.slice(0, 80))}; a value is letters, digits and . _ : = / * @ + -`,
        );
    }
    if (key === 'online' && values.some((v) => v !== 'yes' && v !== 'no'))
      throw new SelectorError(text, `${where}: online takes yes or no`);
    if (key === 'status' && values.some((v) => !STATUSES.has(v)))
      throw new SelectorError(text, `${where}: status takes ${[...STATUSES].join(', ')}`);
    if (key === 'group' && values.some((v) => !GROUP_NAME.test(v)))
      throw new SelectorError(text, `${where}: a group name is lowercase letters, digits and -, at most 64 characters`);
    return { key, values, negated };
  });
  return { text: trimmed, terms };
}

const STATUSES = new Set(['converged', 'downloading', 'applying', 'error', 'none']);

/** What a saved group may be called: the same shape as a fleet's name. */
export const GROUP_NAME = /^[a-z0-9][a-z0-9-]{0,63}$/;

/** The group names `selector`'s `group:` terms use, each once. */
export function groupsNamed(selector: DeviceSelector): string[] {
  return [...new Set(selector.terms.filter((t) => t.key === 'group').flatMap((t) => t.values))];
}

/**
 * `selector` with the saved selectors its `group:` terms name. Throws SelectorError for a group `lookup` does not
 * know, and for a group whose own selector names a group (saved groups are flat, so resolving always ends).
 */
export function withGroups(
  selector: DeviceSelector,
  lookup: (name: string) => DeviceSelector | undefined,
): DeviceSelector {
  const groups: Record<string, DeviceSelector> = {};
  for (const name of groupsNamed(selector)) {
    const group = lookup(name);
    if (group === undefined)
      throw new SelectorError(selector.text, `the group "${name}" does not exist in the device's fleet`);
    if (groupsNamed(group).length > 0)
      throw new SelectorError(selector.text, `the group "${name}" names another group; saved groups cannot nest`);
    groups[name] = group;
  }
  return { ...selector, groups };
}
/** `pattern` with `*` as any run of characters, matched whole. */
function globMatches(pattern: string, value: string | null): boolean {
  if (value === null) return false;
  if (!pattern.includes('*')) return pattern === value;
  const parts = pattern.split('*').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${parts.join('.*')}$`, 's').test(value);
}

function tagMatches(value: string, tags: readonly string[]): boolean {
  // tag:region matches region=north and a bare label region; tag:region=north matches that pair only.
  if (value.includes('=')) return tags.includes(value);
  return tags.some((tag) => tag === value || tag.startsWith(`${value}=`));
}

function valueMatches(selector: DeviceSelector, key: SelectorKey, value: string, device: DeviceAttributes): boolean {
  switch (key) {
    case 'tag':
      return tagMatches(value, device.tags);
    case 'type':
      return device.deviceType === value;
    case 'os':
      return device.osVersion === value;
    case 'release':
      return (
        device.releaseVersion === value ||
        (device.releaseId !== null && value.length >= 4 && device.releaseId.startsWith(value.toLowerCase()))
      );
    case 'fleet':
      return device.fleet === value;
    case 'customer':
      return globMatches(value, device.customer);
    case 'site':
      return globMatches(value, device.site);
    case 'name':
      return globMatches(value, device.name);
    case 'id':
      return device.uuid.startsWith(value.toLowerCase()) || device.shortId?.startsWith(value.toUpperCase()) === true;
    case 'status':
      return (device.updateStatus ?? 'none') === value;
    case 'online':
      return device.online === (value === 'yes');
    case 'group': {
      const group = selector.groups?.[value];
      // Matching an unresolved group as "no device" would make a bulk operation silently do nothing.
      if (group === undefined)
        throw new SelectorError(selector.text, `the group "${value}" is not resolved; only the API knows groups`);
      return selects(group, device);
    }
  }
}

/** Whether `device` is one `selector` selects. */
export function selects(selector: DeviceSelector, device: DeviceAttributes): boolean {
  return selector.terms.every(
    (term) => term.values.some((value) => valueMatches(selector, term.key, value, device)) !== term.negated,
  );
}
