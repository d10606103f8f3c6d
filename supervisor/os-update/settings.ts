// Host OS updates are on when the device image says how to reach RAUC: DATA_DIR/host-os.json, written by
// os-image/build-image.sh. Without the file the supervisor leaves the host OS alone and reports nothing about it.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { parse } from '../../protocol/validate.js';
import { readStateFile } from '../device/state-file.js';

export const HostOsSettingsSchema = Type.Object(
  {
    /** RAUC's system.conf; RAUC's default when absent. */
    raucConfig: Type.Optional(Type.String({ minLength: 1 })),
    /** D-Bus system bus of `rauc service`; the default system bus when absent. */
    busAddress: Type.Optional(Type.String({ minLength: 1 })),
    /** argv that restarts the device into the primary slot, e.g. ["/usr/lib/skiff/tryboot-backend", "reboot"]. */
    rebootCommand: Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
    /** Time the new OS has to pass every health check after booting. */
    healthDeadlineSeconds: Type.Integer({ minimum: 10, maximum: 3600 }),
    /** os-release file of the running OS: its VERSION_ID is the version of a slot RAUC never installed. */
    osReleaseFile: Type.Optional(Type.String({ minLength: 1 })),
  },
  { additionalProperties: false },
);
export type HostOsSettings = Static<typeof HostOsSettingsSchema>;

export async function loadHostOsSettings(dataDir: string): Promise<HostOsSettings | null> {
  const file = path.join(dataDir, 'host-os.json');
  const value = await readStateFile(file, 'host OS settings');
  if (value === null) return null;
  return parse(HostOsSettingsSchema, value, `host OS settings ${file}`);
}

/** VERSION_ID of an os-release file; null when it has none. */
export async function osReleaseVersion(file: string): Promise<string | null> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const match = /^VERSION_ID="?([^"\n]+)"?$/m.exec(text);
  return match?.[1] ?? null;
}
