// Saved groups (a fleet's named device selectors) and operations on every device a selector picks: the bodies and
// answers of their routes (protocol/http/device-groups.ts). Selectors are text in the grammar of
// protocol/device-selector.ts, parsed by the API, which answers a bad one with a 400 naming the term.
import { Type, type Static } from '@sinclair/typebox';
import { DeviceTagSchema, MAX_DEVICE_TAGS } from './api.js';
import { SELECTOR_LIMITS } from './device-selector.js';

/** The text of a selector; an empty one selects every device (refused by bulk operations without `all`). */
export const SelectorTextSchema = Type.String({ maxLength: SELECTOR_LIMITS.chars });

export const GroupNameSchema = Type.String({ minLength: 1, maxLength: 64, pattern: '^[a-z0-9][a-z0-9-]*$' });

export const CreateGroupRequestSchema = Type.Object(
  {
    name: GroupNameSchema,
    /** Not empty (a group of every device is the fleet), and naming no other group. */
    selector: Type.String({ minLength: 1, maxLength: SELECTOR_LIMITS.chars }),
  },
  { additionalProperties: false },
);
export type CreateGroupRequest = Static<typeof CreateGroupRequestSchema>;

export const DeviceGroupSchema = Type.Object({
  fleet: Type.String(),
  name: Type.String(),
  selector: Type.String(),
  createdBy: Type.String(),
  createdAt: Type.String(),
  /** How many of the fleet's devices it selects now (GET of one group, and its creation, only). */
  devices: Type.Optional(Type.Integer({ minimum: 0 })),
});
export type DeviceGroup = Static<typeof DeviceGroupSchema>;

const bulkFields = {
  /** Which of the fleet's devices; must not be empty unless `all` is true. */
  selector: SelectorTextSchema,
  /** Every device of the fleet: the explicit form of the empty selector, which is otherwise refused. */
  all: Type.Optional(Type.Boolean()),
};

export const BulkRequestSchema = Type.Object(bulkFields, { additionalProperties: false });
export type BulkRequest = Static<typeof BulkRequestSchema>;

export const BulkPinRequestSchema = Type.Object(
  { ...bulkFields, /** Release id or version, of the fleet. */ release: Type.String({ minLength: 1, maxLength: 64 }) },
  { additionalProperties: false },
);
export type BulkPinRequest = Static<typeof BulkPinRequestSchema>;

export const BulkTagRequestSchema = Type.Object(
  {
    ...bulkFields,
    /** Tags to add; a key=value pair replaces the device's pairs of the same key. */
    add: Type.Optional(Type.Array(DeviceTagSchema, { maxItems: MAX_DEVICE_TAGS, uniqueItems: true })),
    /** Tags to remove: a bare key removes its pairs too (`region` removes `region=north`). */
    remove: Type.Optional(Type.Array(DeviceTagSchema, { maxItems: MAX_DEVICE_TAGS, uniqueItems: true })),
  },
  { additionalProperties: false },
);
export type BulkTagRequest = Static<typeof BulkTagRequestSchema>;

/** What a bulk operation did. */
export const BulkResultSchema = Type.Object({
  fleet: Type.String(),
  /** The selector as given ('' with `all`). */
  selector: Type.String(),
  /** Devices the selector picked. */
  matched: Type.Integer({ minimum: 0 }),
  /** Of those, the ones the operation changed (the others were so already). */
  changed: Type.Integer({ minimum: 0 }),
});
export type BulkResult = Static<typeof BulkResultSchema>;

/** A device's tags after adding `add` and removing `remove`: a key=value pair added replaces that key's pairs. */
export function retagged(tags: readonly string[], add: readonly string[], remove: readonly string[]): string[] {
  const keyOf = (tag: string): string => tag.split('=', 1)[0]!;
  const removed = (tag: string): boolean =>
    remove.some((r) => r === tag || (!r.includes('=') && tag.startsWith(`${r}=`)));
  const addedKeys = new Set(add.filter((t) => t.includes('=')).map(keyOf));
  const kept = tags.filter((t) => !removed(t) && !(t.includes('=') && addedKeys.has(keyOf(t)) && !add.includes(t)));
  return [...kept, ...add.filter((t) => !kept.includes(t))];
}
