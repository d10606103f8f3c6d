// Reading one of the device's own state files (persisted target, local target, held services, OS update record,
// settings): absent is a normal answer (null), anything else unreadable or not JSON is an error naming the file.
// Validation against the file's schema stays with its owner, which knows what the file holds.
import { readFile } from 'node:fs/promises';
import { messageOf } from '../../lib/errors.js';

/** The parsed JSON of `file`, or null when it does not exist. `what` names the file's role in errors. */
export async function readStateFile(file: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new Error(`cannot read ${what} ${file}: ${messageOf(err)}`, { cause: err });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new Error(`${what} ${file} is not JSON: ${messageOf(err)}`, { cause: err });
  }
}
