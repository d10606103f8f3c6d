// A process of its own that migrates one database, for tests of two processes migrating at once:
//   node migrate-process.js LOCATION STEPS_JSON   prints the versions it applied, as JSON.
import { Type } from '@sinclair/typebox';
import { parse } from '../protocol/validate.js';
import { migrate } from '../registry-api/store/sql/migrate.js';
import { openDatabase } from '../registry-api/store/sql/open.js';

const Steps = Type.Array(
  Type.Object({
    version: Type.Integer(),
    name: Type.String(),
    sql: Type.Union([Type.String(), Type.Object({ sqlite: Type.String(), postgres: Type.String() })]),
  }),
);

const [location, steps] = process.argv.slice(2);
if (location === undefined || steps === undefined) throw new Error('usage: migrate-process.js LOCATION STEPS_JSON');
const db = await openDatabase(location);
try {
  process.stdout.write(JSON.stringify(await migrate(db, parse(Steps, JSON.parse(steps), 'the migration steps'))));
} finally {
  await db.close();
}
