// Exits 0 when node_modules holds what package-lock.json pins, 1 (saying why) when an install is needed.
// Compared by content, not by file times: a fresh clone's lock file is newer than any install, and a node_modules
// shared by symlink (a worktree, the clean-clone demo test) must not be reinstalled from under its other users.
// npm records what it installed in node_modules/.package-lock.json; each package of the lock must be there at the
// same version and source, except optional ones for other platforms, which npm leaves out.
import { readFileSync } from 'node:fs';

function readJson(file) {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    console.log(`${file}: ${err.code === 'ENOENT' ? 'missing' : `unreadable (${err.message})`}`);
    process.exit(1);
  }
}

const manifest = readJson('package.json');
const lock = readJson('package-lock.json');
const installed = readJson('node_modules/.package-lock.json');
const wanted = lock.packages ?? {};
const have = installed.packages ?? {};

const root = wanted[''] ?? {};
for (const field of ['dependencies', 'devDependencies', 'optionalDependencies']) {
  if (JSON.stringify(root[field] ?? {}) !== JSON.stringify(manifest[field] ?? {})) {
    console.log(`package-lock.json's ${field} differ from package.json's: run npm install and commit the lock file`);
    process.exit(1);
  }
}

for (const [name, entry] of Object.entries(wanted)) {
  if (name === '') continue;
  const got = have[name];
  if (got === undefined) {
    if (entry.optional === true || entry.devOptional === true) continue;
    console.log(`${name} ${entry.version ?? ''} is in package-lock.json but not installed`);
    process.exit(1);
  }
  for (const field of ['version', 'resolved', 'integrity']) {
    if (entry[field] !== undefined && got[field] !== entry[field]) {
      console.log(`${name}: installed ${field} ${got[field] ?? '(none)'}, package-lock.json pins ${entry[field]}`);
      process.exit(1);
    }
  }
}
for (const name of Object.keys(have)) {
  if (!(name in wanted)) {
    console.log(`${name} is installed but not in package-lock.json`);
    process.exit(1);
  }
}
