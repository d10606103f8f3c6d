// What each argument and option of `skiff` takes, checked where it is typed: every refusal names the option or
// argument, shows the value (cleaned of control characters, shortened) and says what is allowed, in words. The
// string kinds use the protocol's own schemas, so the CLI refuses exactly what the API would, before it asks.
import { DEVICE_TYPES } from '../../protocol/device-types.js';
import { statSync } from 'node:fs';
import type { TString } from '@sinclair/typebox';
import type { Argument, Command, Option } from 'commander';
import { CronExpressionParser } from 'cron-parser';
import { CreateUserRequestSchema, ROLES } from '../../protocol/access.js';
import { CreateFleetRequestSchema, UpdateDeviceRequestSchema } from '../../protocol/api.js';
import { DEVICE_AUTH_STATUSES } from '../../protocol/device-auth.js';
import { MAX_TAIL, MAX_WAIT_SECONDS, ServiceNameSchema } from '../../protocol/device-logs.js';
import { ConfigVarNameSchema, RESERVED_CONFIG_PREFIX } from '../../protocol/fleet-config.js';
import { DeviceTypeSchema, OsVersionSchema } from '../../protocol/os-release.js';
import { check } from '../../protocol/validate.js';
import { GroupNameSchema } from '../../protocol/device-groups.js';
import { parseSelector, SelectorError } from '../../protocol/device-selector.js';
import { localApiUrl } from '../local/client.js';
import { normalizeApiUrl } from '../config.js';

/** A command line that cannot run as typed: exit code 2, and `argument` is the option or argument at fault. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly argument: string | null = null,
    /** The command it was given to (`skiff device show`), for the pointer to its help. */
    readonly command: string | null = null,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Why a value was refused: a phrase that follows the value ("is not a whole number from 1 to 10"). */
type Read<T> = { ok: true; value: T } | { ok: false; why: string };

export interface Kind<T = unknown> {
  /** What it is, without article: "device status". */
  noun: string;
  /** What to give instead, in words ("use one of on, off"); empty when the refusal says it all. */
  allowed: string;
  read(raw: string): Read<T>;
  /** Repeatable option or variadic argument: the values are collected into an array. */
  many?: boolean;
  /** One value it takes and one it refuses: the CLI test runs every command with each. */
  example: { good: string; bad: string };
  /** Every value it takes, when they are few and fixed: shell completion offers them. */
  choices?: readonly string[];
}

const MAX_SHOWN = 40;

/** The value as a person can read it in one line: control characters escaped, long values shortened. */
export function shown(raw: string): string {
  const visible = raw.replace(/\p{Cc}/gu, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return `'${visible.length > MAX_SHOWN ? `${visible.slice(0, MAX_SHOWN)}…` : visible}'`;
}

export function article(noun: string): string {
  return `${/^[aeiou]/i.test(noun) ? 'an' : 'a'} ${noun}`;
}

/** The message for `raw` given as `name`, refused because `why`. */
export function refusal(name: string, kind: Kind, raw: string, why: string): string {
  const what = raw === '' ? `the ${kind.noun} is empty` : `${shown(raw)} ${why}`;
  return `${name}: ${what}${kind.allowed === '' ? '' : `; ${kind.allowed}`}`;
}

/** `raw` as `kind`, or a UsageError naming `name`. */
export function readAs<T>(kind: Kind<T>, name: string, raw: string, command: string | null = null): T {
  const read = kind.read(raw);
  if (read.ok) return read.value;
  throw new UsageError(refusal(name, kind, raw, read.why), name, command);
}

// What the protocol's patterns allow, said the way a person reads it. failure.ts uses the same words for the
// issues the API sends back.
export const PATTERN_WORDS: Readonly<Record<string, string>> = {
  '^[a-z0-9][a-z0-9-]*$': 'lowercase letters, digits and dashes, starting with a letter or digit',
  '^[a-z0-9][a-z0-9._-]*$': 'lowercase letters, digits, dots, underscores and dashes, starting with a letter or digit',
  '^[A-Za-z_][A-Za-z0-9_]*$': 'letters, digits and underscores, not starting with a digit',
  '^[A-Za-z0-9._:-]+$': 'letters, digits, dots, underscores, colons and dashes',
  '^[A-Za-z0-9._:-]+(=[A-Za-z0-9._:/@+-]+)?$':
    'a label of letters, digits, dots, underscores, colons and dashes, or such a key=value (the value may also hold / @ +)',
  '^[A-Za-z0-9][A-Za-z0-9._-]*$': 'letters, digits, dots, underscores and dashes, starting with a letter or digit',
  '^[a-zA-Z0-9][a-zA-Z0-9_.-]*$': 'letters, digits, dots, underscores and dashes, starting with a letter or digit',
  '^[A-Za-z0-9][A-Za-z0-9._+~-]*$':
    'letters, digits, dots, underscores, plus signs, tildes and dashes, starting with a letter or digit',
  '^[a-zA-Z0-9-]+$': 'letters, digits and dashes',
  '^(0|[1-9][0-9]{0,2}|1000)$': `a whole number from 0 to ${MAX_TAIL}`,
  '^([1-9][0-9]?|1[01][0-9]|120)$': `a whole number from 1 to ${MAX_WAIT_SECONDS}`,
  '^([01][0-9]|2[0-3]):[0-5][0-9]$': 'a time of day as HH:MM, 00:00 to 23:59',
  '^[A-Za-z0-9+/]+={0,2}$': 'base64 text',
};

function lengthWords(min: number | undefined, max: number | undefined): string {
  if (min !== undefined && min > 0 && max !== undefined) return `${min} to ${max}`;
  if (max !== undefined) return `at most ${max}`;
  return `at least ${min ?? 0}`;
}

/** A string the protocol declares with `schema`: its length and pattern, as the API checks them. */
export function schemaText(noun: string, schema: TString, example: { good: string; bad: string }): Kind<string> {
  const pattern = schema.pattern === undefined ? null : (PATTERN_WORDS[schema.pattern] ?? 'the form the API expects');
  const length = lengthWords(schema.minLength, schema.maxLength);
  return {
    noun,
    allowed: `use ${length} ${pattern === null ? 'characters' : `characters: ${pattern}`}`,
    read(raw) {
      if (check(schema, raw).length === 0) return { ok: true, value: raw };
      if (schema.maxLength !== undefined && raw.length > schema.maxLength)
        return { ok: false, why: `is longer than ${schema.maxLength} characters` };
      if (schema.minLength !== undefined && raw.length < schema.minLength)
        return { ok: false, why: `is shorter than ${schema.minLength} characters` };
      return { ok: false, why: `is not ${article(noun)}` };
    },
    example,
  };
}

/** Text of `min` to `max` characters, anything printable (newlines and tabs too). */
export function text(noun: string, min: number, max: number): Kind<string> {
  return {
    noun,
    allowed: `use ${lengthWords(min, max)} characters`,
    read(raw) {
      if (raw.length < min) return { ok: false, why: `is shorter than ${min} characters` };
      if (raw.length > max) return { ok: false, why: `is longer than ${max} characters` };
      // Line breaks and tabs belong in notes; other control characters only garble what people read later.
      if (/\p{Cc}/u.test(raw.replace(/[\t\n\r]/g, ''))) return { ok: false, why: 'holds control characters' };
      return { ok: true, value: raw };
    },
    example: { good: 'x', bad: min > 0 ? '' : 'x'.repeat(max + 1) },
  };
}

export function oneOf<T extends string>(noun: string, values: readonly T[]): Kind<T> {
  return {
    noun,
    allowed: `use one of ${values.join(', ')}`,
    read(raw) {
      const found = values.find((v) => v === raw);
      return found === undefined ? { ok: false, why: `is not ${article(noun)}` } : { ok: true, value: found };
    },
    example: { good: values[0]!, bad: 'foo' },
    choices: values,
  };
}

export function wholeNumber(min: number, max: number): Kind<number> {
  const noun = `whole number from ${min} to ${max}`;
  return {
    noun,
    allowed: '',
    read(raw) {
      const value = Number(raw);
      return /^\d+$/.test(raw) && value >= min && value <= max
        ? { ok: true, value }
        : { ok: false, why: `is not ${article(noun)}` };
    },
    example: { good: String(min), bad: 'abc' },
  };
}

/** Collects every value of a repeatable option or variadic argument. */
export function many<T>(kind: Kind<T>): Kind<T> {
  return { ...kind, many: true };
}

/** A kind whose reader returns `{ value }`, or for a refused value why, said after the value. */
export function explained<T>(
  noun: string,
  allowed: string,
  example: { good: string; bad: string },
  read: (raw: string) => { value: T } | string,
): Kind<T> {
  return {
    noun,
    allowed,
    example,
    read(raw) {
      const result = read(raw);
      return typeof result === 'string' ? { ok: false, why: result } : { ok: true, value: result.value };
    },
  };
}

function custom<T>(
  noun: string,
  allowed: string,
  example: { good: string; bad: string },
  read: (raw: string) => T | null,
  why = `is not ${article(noun)}`,
): Kind<T> {
  return {
    noun,
    allowed,
    example,
    read(raw) {
      const value = raw === '' ? null : read(raw);
      return value === null ? { ok: false, why } : { ok: true, value };
    },
  };
}

function attempt<T>(fn: () => T): T | null {
  try {
    return fn();
  } catch {
    return null;
  }
}

function isIanaTimeZone(name: string): boolean {
  // Intl also takes offsets such as "+01:00", which have no daylight saving rules: not what a window means.
  return /^[A-Za-z]/.test(name) && attempt(() => new Intl.DateTimeFormat('en', { timeZone: name })) !== null;
}

function isDirectory(file: string): boolean {
  return attempt(() => statSync(file).isDirectory()) === true;
}

function isFile(file: string): boolean {
  return attempt(() => statSync(file).isFile()) === true;
}

// The kinds `skiff` takes. Names and ids are checked only as far as their form: whether one exists is the API's to say.

export const fleetName = schemaText('fleet name', CreateFleetRequestSchema.properties.name, {
  good: 'meters',
  bad: 'Bad Name',
});
export const userName = schemaText('user name', CreateUserRequestSchema.properties.name, {
  good: 'ada',
  bad: 'Ada Lovelace',
});
export const deviceRef = custom(
  'device id',
  "give the device's uuid, its short id, or the start of either (at least 4 characters)",
  { good: 'ab12', bad: 'no such/device' },
  (raw) => (/^[A-Za-z0-9-]{1,64}$/.test(raw) ? raw : null),
);
export const releaseRef = text('release id or version', 1, 64);
export const osReleaseRef = text('host OS release id or version', 1, 64);
export const recordId = custom('id', 'give the id as listed (no spaces)', { good: '1', bad: 'has spaces' }, (raw) =>
  /^[^\s/]{1,128}$/.test(raw) ? raw : null,
);
export const deviceStatus = oneOf('device status', DEVICE_AUTH_STATUSES);
export const role = oneOf('role', ROLES);
export const onOff = oneOf('on/off switch', ['on', 'off'] as const);
export const deviceName = text('device name', 1, 128);
export const deviceNote = text('note', 0, 2000);
export const oneTag = schemaText('tag', UpdateDeviceRequestSchema.properties.tags.items, {
  good: 'region=north',
  bad: 'no spaces',
});
export const tag = many(oneTag);
/** The words of a command run on a device (`skiff ssh DEVICE -- WORD...`): each passed on as one argument. */
export const commandWord = many(text('command word', 1, 4096));
/** A device selector, parsed as the API parses it: the refusal names the term and what is allowed. */
export const selector: Kind<string> = {
  noun: 'device selector',
  allowed: 'write terms as key:value separated by commas, e.g. tag:region=north,type:raspberrypi4-64',
  example: { good: 'tag:region=north', bad: 'colour:blue' },
  read(raw) {
    try {
      return { ok: true, value: parseSelector(raw).text };
    } catch (err) {
      if (err instanceof SelectorError) return { ok: false, why: `is not valid: ${err.detail}` };
      throw err;
    }
  },
};
export const groupName = schemaText('group name', GroupNameSchema, { good: 'north-canaries', bad: 'North' });
export const label = text('label', 1, 128);
export const releaseVersion = text('release version', 1, 64);
export const releaseNotes = text('release notes', 0, 10_000);
/** Repeatable: a mixed fleet names each device type it admits. */
export const fleetDeviceType = many(
  oneOf(
    'device type',
    DEVICE_TYPES.map((t) => t.slug),
  ),
);
export const osDeviceType = schemaText('device type', DeviceTypeSchema, { good: 'raspberrypi4-64', bad: 'pi 4' });
export const osVersion = schemaText('host OS version', OsVersionSchema, { good: '6.1.0', bad: '6.1 beta' });
export const oneService = schemaText('service name', ServiceNameSchema, { good: 'reader', bad: '-reader' });
export const serviceName = many(oneService);
export const configVarName: Kind<string> = (() => {
  const base = schemaText('config var name', ConfigVarNameSchema, { good: 'LOG_LEVEL', bad: '1BAD' });
  return {
    ...base,
    allowed: `${base.allowed}; ${RESERVED_CONFIG_PREFIX}* is reserved for Skiff`,
    read(raw) {
      if (raw.toUpperCase().startsWith(RESERVED_CONFIG_PREFIX))
        return {
          ok: false,
          why: `starts with ${RESERVED_CONFIG_PREFIX}, which is reserved for what Skiff sets itself`,
        };
      return base.read(raw);
    },
  };
})();
export const configVarValue = text('config var value', 0, 65_536);
export const cron = custom(
  'cron expression',
  "use five cron fields (minute hour day-of-month month day-of-week), e.g. '0 2 * * *'",
  { good: '0 2 * * *', bad: 'garbage' },
  (raw) => (raw.trim().split(/\s+/).length === 5 && attempt(() => CronExpressionParser.parse(raw)) ? raw : null),
);
export const timeZone = custom(
  'time zone',
  'use an IANA time zone name, e.g. Europe/Amsterdam or UTC',
  { good: 'UTC', bad: 'Mars/Olympus' },
  (raw) => (isIanaTimeZone(raw) ? raw : null),
);
export const bandwidthCap = custom<number | 'none'>(
  'bandwidth cap',
  "use a whole number of bytes per second, at least 1, or 'none'",
  { good: '100000', bad: 'fast' },
  (raw) => (raw === 'none' ? 'none' : /^\d+$/.test(raw) && Number(raw) >= 1 ? Number(raw) : null),
);
export const dataBudget = custom<number | 'none'>(
  'data budget',
  "use a whole number of bytes per month, at least 1, or 'none'",
  { good: '5000000', bad: '5MB' },
  (raw) => (raw === 'none' ? 'none' : /^\d{1,15}$/.test(raw) && Number(raw) >= 1 ? Number(raw) : null),
);
export const apiUrl = custom(
  'API URL',
  'use an http:// or https:// URL, e.g. http://127.0.0.1:8080',
  { good: 'http://127.0.0.1:8080', bad: 'not a url' },
  (raw) => attempt(() => normalizeApiUrl(raw)) && raw,
);
export const apiToken = custom(
  'API token',
  'give the token as it was printed (no spaces)',
  { good: 'token', bad: 'two words' },
  (raw) => (/^\S+$/.test(raw) ? raw : null),
);
export const directory = custom(
  'folder',
  'give a folder that exists (the one holding the compose file)',
  { good: '.', bad: '/nonexistent/skiff-folder' },
  (raw) => (isDirectory(raw) ? raw : null),
  'is not a folder that exists',
);
export const readableFile = custom(
  'file',
  'give the path of a file that exists',
  { good: '/etc/passwd', bad: '/nonexistent/skiff-file' },
  (raw) => (isFile(raw) ? raw : null),
  'is not a file that exists',
);
export const publicKey = custom(
  'public key',
  "give the base64 SPKI DER key, or a PEM file holding it (e.g. the device's device-key.pem)",
  { good: 'A'.repeat(44), bad: '/nonexistent/skiff-key.pem' },
  (raw) => ((/^[A-Za-z0-9+/]+={0,2}$/.test(raw) && raw.length >= 40) || isFile(raw) ? raw : null),
  'is neither a base64 public key nor a file that exists',
);
export const releaseKey = custom(
  'release key',
  'give the public key as `skiff release-key show` prints it (base64), or its 64-hex-digit key id',
  { good: `MCowBQYDK2VwAyEA${'A'.repeat(43)}=`, bad: 'not-a-key' },
  (raw) => (/^[a-f0-9]{64}$/.test(raw) || (/^[A-Za-z0-9+/]+={0,2}$/.test(raw) && raw.length >= 40) ? raw : null),
);
export const newFile = text('file path', 1, 4096);
export const dockerHost = custom(
  'Docker host',
  'use unix:///path/docker.sock, a socket path, or tcp://HOST:PORT',
  { good: 'unix:///var/run/docker.sock', bad: 'garbage' },
  (raw) =>
    raw.startsWith('unix://') || raw.startsWith('/') || /^(tcp|http|https):\/\/([^/:]+|\[[^\]]+\]):\d+\/?$/.test(raw)
      ? raw
      : null,
);
export const buildArg = many(
  custom<[string, string]>('build arg', 'use KEY=VALUE', { good: 'A=1', bad: 'novalue' }, (raw) => {
    const eq = raw.indexOf('=');
    return eq > 0 ? [raw.slice(0, eq), raw.slice(eq + 1)] : null;
  }),
);
/** A compose profile name, as the compose specification allows them. */
export const composeProfile = many(
  custom<string>(
    'compose profile',
    'use letters, digits, _ . and -, starting with a letter or digit',
    { good: 'debug', bad: '-x' },
    (raw) => (/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$/.test(raw) ? raw : null),
  ),
);
export const deviceAddress = custom(
  'device address',
  'use HOST, HOST:PORT or http://HOST:PORT of the device (its local API, port 48484 by default)',
  { good: '127.0.0.1', bad: 'http://host/path' },
  (raw) => attempt(() => localApiUrl(raw)) && raw,
);
export const registryHost = custom(
  'registry',
  'use HOST or HOST:PORT, without a scheme or path',
  { good: 'localhost:5000', bad: 'http://registry/x' },
  (raw) => (/^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:\d{1,5})?$/.test(raw) ? raw : null),
);
export const localKey = custom(
  'local API key',
  "give the key as in the device's DATA_DIR/local-api.key (no spaces)",
  { good: 'key', bad: 'two words' },
  (raw) => (/^\S+$/.test(raw.trim()) ? raw : null),
);

/** Where a kind was attached, for the test that runs every command with a bad value of each. */
export interface Typed {
  kind: Kind;
  /** `--status` or `<device>`: how messages name it. */
  name: string;
}

const typed = new WeakMap<Option | Argument, Typed>();

export function kindOf(target: Option | Argument): Typed | undefined {
  return typed.get(target);
}

export function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c !== null; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/**
 * Gives `cmd`'s arguments (`<device>`) and options (`--status`) their kinds: each value is read as its kind
 * when commander meets it, so a bad one stops the command before it does anything.
 */
export function kinds(cmd: Command, map: Readonly<Record<string, Kind>>): Command {
  for (const [name, kind] of Object.entries(map)) {
    const argument = cmd.registeredArguments.find((a) => `<${a.name()}>` === name);
    const option = cmd.options.find((o) => o.long === name);
    if (argument === undefined && option === undefined)
      throw new Error(`${commandPath(cmd)} has no argument or option ${name}`);
    const collect = kind.many === true || argument?.variadic === true;
    const parse = (raw: string, previous: unknown): unknown => {
      const value = readAs(kind, name, raw, commandPath(cmd));
      return collect ? [...(Array.isArray(previous) ? previous : []), value] : value;
    };
    if (argument !== undefined) {
      argument.argParser(parse);
      typed.set(argument, { kind, name });
    } else if (option !== undefined) {
      option.argParser(parse);
      typed.set(option, { kind, name });
    }
  }
  return cmd;
}
