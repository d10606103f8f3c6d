// The query layer under the store, the same suite on real SQLite (a file) and real PostgreSQL (a fresh database
// in the environment's server): rows checked against their schema, constraint errors told apart, transactions
// that commit or leave nothing, write transactions that cannot interleave, and the migration runner.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Type } from '@sinclair/typebox';
import { parse } from '../../protocol/validate.js';
import type { Database, Dialect } from '../../registry-api/store/sql/database.js';
import { LastSeenBuffer } from '../../registry-api/store/last-seen.js';
import { SqlError } from '../../registry-api/store/sql/errors.js';
import { migrate, type Migration } from '../../registry-api/store/sql/migrate.js';
import { openDatabase } from '../../registry-api/store/sql/open.js';
import { scratchPostgresDatabase } from '../../harness/postgres.js';

const execFileAsync = promisify(execFile);
const MIGRATE_PROCESS = fileURLToPath(new URL('../../harness/migrate-process.js', import.meta.url));

interface Backend {
  /** A location openDatabase takes: a file path or a postgres:// URL. */
  location: string;
  dispose(): Promise<void>;
}

const backends: Record<Dialect, () => Promise<Backend>> = {
  async sqlite() {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'skiff-sql-'));
    return { location: path.join(dir, 'skiff.db'), dispose: () => rm(dir, { recursive: true, force: true }) };
  },
  async postgres() {
    const scratch = await scratchPostgresDatabase('skiff_sql');
    return { location: scratch.url, dispose: () => scratch.drop() };
  },
};

const Thing = Type.Object({ id: Type.Integer(), name: Type.String(), note: Type.Union([Type.String(), Type.Null()]) });
const Count = Type.Object({ n: Type.Integer() });

const SCHEMA = `
  CREATE TABLE owners (name TEXT PRIMARY KEY);
  CREATE TABLE things (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    owner TEXT REFERENCES owners (name),
    size INTEGER NOT NULL DEFAULT 0 CHECK (size >= 0),
    note TEXT
  );
`;

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`store query layer on ${dialect}`, () => {
    let backend: Backend;
    let db: Database;

    beforeEach(async () => {
      backend = await backends[dialect]();
      db = await openDatabase(backend.location);
      await db.exec(SCHEMA);
    });

    afterEach(async () => {
      await db.close();
      await backend.dispose();
    });

    it('says which database it is', () => {
      assert.equal(db.dialect, dialect);
    });

    it('binds positional and named parameters and returns typed rows', async () => {
      assert.deepEqual(await db.run('INSERT INTO things (id, name, note) VALUES (?, ?, ?)', [1, 'pump', null]), {
        changes: 1,
      });
      await db.run('INSERT INTO things (id, name, note) VALUES (@id, @name, @note)', {
        id: 2,
        name: "meter's ? @x",
        note: 'n',
      });
      assert.deepEqual(await db.all(Thing, 'SELECT id, name, note FROM things ORDER BY id'), [
        { id: 1, name: 'pump', note: null },
        { id: 2, name: "meter's ? @x", note: 'n' },
      ]);
      assert.deepEqual(
        await db.get(Thing, 'SELECT id, name, note FROM things WHERE name = @name', { name: "meter's ? @x" }),
        { id: 2, name: "meter's ? @x", note: 'n' },
      );
      assert.equal(await db.get(Thing, 'SELECT id, name, note FROM things WHERE id = ?', [99]), null);
      // COUNT(*) is int8 on PostgreSQL: it must still arrive as a number.
      assert.deepEqual(await db.get(Count, 'SELECT COUNT(*) AS n FROM things'), { n: 2 });
      assert.deepEqual(await db.run('UPDATE things SET note = ? WHERE id > ?', ['x', 0]), { changes: 2 });
    });

    it('refuses a row that does not have the shape the caller named, saying which statement', async () => {
      await db.run('INSERT INTO things (id, name) VALUES (?, ?)', [1, 'pump']);
      await assert.rejects(
        db.all(Thing, 'SELECT id, name, size AS note FROM things'),
        /row 0 of `SELECT id, name, size AS note FROM things` does not have the expected shape: \/note: /,
      );
    });

    it('tells unique, foreign-key, check and not-null violations apart and names the statement', async () => {
      await db.run('INSERT INTO things (id, name) VALUES (?, ?)', [1, 'pump']);
      const kindOf = async (sql: string, params: (string | number | null)[]): Promise<string> => {
        try {
          await db.run(sql, params);
        } catch (err) {
          assert.ok(err instanceof SqlError, `not an SqlError: ${String(err)}`);
          assert.match(err.message, /\(in `INSERT INTO things/);
          return err.kind;
        }
        return 'none';
      };
      assert.equal(await kindOf('INSERT INTO things (id, name) VALUES (?, ?)', [2, 'pump']), 'unique');
      assert.equal(await kindOf('INSERT INTO things (id, name) VALUES (?, ?)', [1, 'other']), 'unique');
      assert.equal(
        await kindOf('INSERT INTO things (id, name, owner) VALUES (?, ?, ?)', [3, 'c', 'nobody']),
        'foreign-key',
      );
      assert.equal(await kindOf('INSERT INTO things (id, name, size) VALUES (?, ?, ?)', [4, 'd', -1]), 'check');
      assert.equal(await kindOf('INSERT INTO things (id, name) VALUES (?, ?)', [5, null]), 'not-null');
      assert.equal(await kindOf('INSERT INTO things (id, name) VALUES (?, ?)', [6, 'fine']), 'none');
    });

    it('refuses text with a NUL character on both databases, before the database sees it', async () => {
      // PostgreSQL cannot hold NUL in text at all; SQLite could, and is held to the same rule so both answer alike.
      await assert.rejects(
        db.get(Thing, 'SELECT id, name, note FROM things WHERE name = ?', ['meters\u0000']),
        (err: unknown) => err instanceof SqlError && err.kind === 'invalid-text' && /NUL character/.test(err.message),
      );
      await assert.rejects(
        db.run('INSERT INTO things (id, name) VALUES (@id, @name)', { id: 1, name: 'a\u0000b' }),
        (err: unknown) => err instanceof SqlError && err.kind === 'invalid-text',
      );
      assert.deepEqual(await db.get(Count, 'SELECT COUNT(*) AS n FROM things'), { n: 0 });
    });

    it('commits a transaction that resolves and keeps nothing of one that throws', async () => {
      const result = await db.transaction(async (tx) => {
        await tx.run('INSERT INTO things (id, name) VALUES (?, ?)', [1, 'kept']);
        return (await tx.get(Count, 'SELECT COUNT(*) AS n FROM things'))?.n;
      });
      assert.equal(result, 1);
      await assert.rejects(
        db.transaction(async (tx) => {
          await tx.run('INSERT INTO things (id, name) VALUES (?, ?)', [2, 'dropped']);
          await tx.run('UPDATE things SET note = ? WHERE id = ?', ['changed', 1]);
          throw new Error('changed my mind');
        }),
        /changed my mind/,
      );
      // A constraint error half-way rolls back the statements before it too.
      await assert.rejects(
        db.transaction(async (tx) => {
          await tx.run('INSERT INTO things (id, name) VALUES (?, ?)', [3, 'dropped too']);
          await tx.run('INSERT INTO things (id, name) VALUES (?, ?)', [4, 'kept']);
        }),
        (err: unknown) => err instanceof SqlError && err.kind === 'unique',
      );
      assert.deepEqual(await db.all(Thing, 'SELECT id, name, note FROM things ORDER BY id'), [
        { id: 1, name: 'kept', note: null },
      ]);
    });

    it('runs write transactions one at a time: concurrent read-then-write never collides', async () => {
      const NEXT = Type.Object({ next: Type.Integer() });
      const ids = await Promise.all(
        Array.from({ length: 25 }, (_, i) =>
          db.transaction(async (tx) => {
            const row = await tx.get(NEXT, 'SELECT COALESCE(MAX(id), 0) + 1 AS next FROM things');
            const next = row?.next ?? 1;
            // Other transactions get every chance to run in between: on PostgreSQL they really are concurrent.
            await tx.get(Count, 'SELECT COUNT(*) AS n FROM things');
            await new Promise((resolve) => setImmediate(resolve));
            await tx.run('INSERT INTO things (id, name) VALUES (?, ?)', [next, `thing ${i}`]);
            return next;
          }),
        ),
      );
      assert.deepEqual(
        [...ids].sort((a, b) => a - b),
        Array.from({ length: 25 }, (_, i) => i + 1),
      );
    });

    it('keeps reads outside a transaction apart from it', async () => {
      let release!: () => void;
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      let inserted!: () => void;
      const didInsert = new Promise<void>((resolve) => {
        inserted = resolve;
      });
      const writer = db.transaction(async (tx) => {
        await tx.run('INSERT INTO things (id, name) VALUES (?, ?)', [1, 'uncommitted']);
        inserted();
        await gate;
      });
      await didInsert;
      // SQLite queues the read behind the transaction (one connection: it would see the uncommitted row);
      // PostgreSQL answers at once, without it.
      let answered = false;
      const read = db.get(Count, 'SELECT COUNT(*) AS n FROM things').then((row) => {
        answered = true;
        return row;
      });
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(answered, dialect === 'postgres');
      if (dialect === 'postgres') assert.deepEqual(await read, { n: 0 });
      release();
      await writer;
      if (dialect === 'sqlite') assert.deepEqual(await read, { n: 1 });
      assert.deepEqual(await db.get(Count, 'SELECT COUNT(*) AS n FROM things'), { n: 1 });
    });

    it('refuses the database handle inside its own transaction, and a transaction handle after it ended', async () => {
      await assert.rejects(
        db.transaction(async () => {
          await db.run('INSERT INTO things (id, name) VALUES (?, ?)', [1, 'outside']);
        }),
        /a statement on the database inside one of its transactions: use the transaction's handle/,
      );
      await assert.rejects(
        db.transaction(() => db.transaction(async () => 1)),
        /a nested transaction on the database inside/,
      );
      let leaked: Parameters<Parameters<Database['transaction']>[0]>[0] | undefined;
      await db.transaction(async (tx) => {
        leaked = tx;
      });
      assert.ok(leaked);
      await assert.rejects(
        leaked.run('INSERT INTO things (id, name) VALUES (?, ?)', [2, 'late']),
        /transaction that has already ended/,
      );
      assert.deepEqual(await db.get(Count, 'SELECT COUNT(*) AS n FROM things'), { n: 0 });
    });
  });

  describe(`devices' last contact written behind on ${dialect}`, () => {
    let backend: Backend;
    let db: Database;
    let buffer: LastSeenBuffer;
    const failures: unknown[] = [];
    const Seen = Type.Object({ uuid: Type.String(), last_seen: Type.Union([Type.String(), Type.Null()]) });
    const seenOf = async (): Promise<Map<string, string | null>> =>
      new Map((await db.all(Seen, 'SELECT uuid, last_seen FROM devices')).map((r) => [r.uuid, r.last_seen]));
    const uuids = Array.from({ length: 1234 }, (_, i) => `dev-${i}`);

    beforeEach(async () => {
      backend = await backends[dialect]();
      db = await openDatabase(backend.location);
      await db.exec('CREATE TABLE devices (uuid TEXT PRIMARY KEY, last_seen TEXT)');
      for (const uuid of uuids) await db.run('INSERT INTO devices (uuid, last_seen) VALUES (?, NULL)', [uuid]);
      // Hours: the timer never fires during a test; flush() is called.
      buffer = new LastSeenBuffer(db, (err) => failures.push(err), 3_600_000);
    });

    afterEach(async () => {
      await buffer.close().catch(() => undefined);
      await db.close();
      await backend.dispose();
      failures.length = 0;
    });

    it('writes every noted device in one flush (several statements), the latest note winning, never a time back', async () => {
      const t = Date.parse('2026-06-01T10:00:00.000Z');
      await db.run('UPDATE devices SET last_seen = ? WHERE uuid = ?', ['2026-06-01T11:00:00.000Z', 'dev-0']);
      for (const uuid of uuids) buffer.note(uuid, t);
      buffer.note('dev-1', t + 5_000);
      buffer.note('dev-1', t + 1_000);
      await buffer.flush();
      const seen = await seenOf();
      assert.equal(seen.get('dev-0'), '2026-06-01T11:00:00.000Z', 'a later stored time (a state report) is kept');
      assert.equal(seen.get('dev-1'), '2026-06-01T10:00:05.000Z');
      assert.equal(seen.get('dev-1233'), '2026-06-01T10:00:00.000Z');
      assert.equal([...seen.values()].filter((v) => v === '2026-06-01T10:00:00.000Z').length, 1232);
      await buffer.flush();
      assert.deepEqual(await seenOf(), seen, 'a flush with nothing noted writes nothing');
    });

    it('keeps what a failed write held and writes it on the next flush', async () => {
      await db.exec('ALTER TABLE devices RENAME TO devices_away');
      buffer.note('dev-7', Date.parse('2026-06-01T10:00:00.000Z'));
      await assert.rejects(buffer.flush());
      await buffer.flushQuietly();
      assert.equal(failures.length, 1, 'flushQuietly hands its failure to the callback instead of throwing');
      await db.exec('ALTER TABLE devices_away RENAME TO devices');
      await buffer.flush();
      assert.equal((await seenOf()).get('dev-7'), '2026-06-01T10:00:00.000Z');
    });
  });

  describe(`schema migrations on ${dialect}`, () => {
    let backend: Backend;
    const opened: Database[] = [];
    const open = async (): Promise<Database> => {
      const db = await openDatabase(backend.location);
      opened.push(db);
      return db;
    };
    const Name = Type.Object({ name: Type.String() });
    const STEPS: Migration[] = [
      { version: 1, name: 'owners', sql: 'CREATE TABLE owners (name TEXT PRIMARY KEY);' },
      {
        version: 2,
        name: 'dialect marker',
        sql: {
          sqlite: "CREATE TABLE marker (name TEXT NOT NULL); INSERT INTO marker VALUES ('sqlite');",
          postgres: "CREATE TABLE marker (name TEXT NOT NULL); INSERT INTO marker VALUES ('postgres');",
        },
      },
    ];

    beforeEach(async () => {
      backend = await backends[dialect]();
    });

    afterEach(async () => {
      for (const db of opened.splice(0)) await db.close();
      await backend.dispose();
    });

    it('applies the missing steps once, in order, with the script for this database', async () => {
      const db = await open();
      assert.deepEqual(await migrate(db, [...STEPS].reverse()), [1, 2]);
      assert.deepEqual(await db.all(Name, 'SELECT name FROM marker'), [{ name: dialect }]);
      assert.deepEqual(await migrate(db, STEPS), []);
      const more: Migration = { version: 3, name: 'things', sql: 'CREATE TABLE things (id INTEGER PRIMARY KEY);' };
      assert.deepEqual(await migrate(db, [...STEPS, more]), [3]);
      const Version = Type.Object({ version: Type.Integer(), name: Type.String() });
      assert.deepEqual(await db.all(Version, 'SELECT version, name FROM schema_migrations ORDER BY version'), [
        { version: 1, name: 'owners' },
        { version: 2, name: 'dialect marker' },
        { version: 3, name: 'things' },
      ]);
    });

    it('leaves nothing of a step that fails half-way, and says which step', async () => {
      const db = await open();
      const broken: Migration = {
        version: 2,
        name: 'half',
        sql: 'CREATE TABLE kept_out (x TEXT); CREATE TABLE owners (name TEXT);',
      };
      await assert.rejects(
        migrate(db, [STEPS[0] as Migration, broken]),
        new RegExp(`schema migration 2 \\(half\\) failed on ${dialect}: `),
      );
      const Version = Type.Object({ version: Type.Integer() });
      assert.deepEqual(await db.all(Version, 'SELECT version FROM schema_migrations'), [{ version: 1 }]);
      await assert.rejects(db.all(Name, 'SELECT x AS name FROM kept_out'), /kept_out/);
    });

    it('refuses a database a newer version wrote', async () => {
      const db = await open();
      await migrate(db, STEPS);
      await assert.rejects(
        migrate(db, STEPS.slice(0, 1)),
        /database schema version 2 is newer than this Skiff knows \(1\); upgrade Skiff/,
      );
    });

    it('applies each step once when two processes migrate at the same time', async () => {
      // Separate processes: better-sqlite3 waits for SQLite's file lock synchronously, as another process would.
      const run = async (): Promise<number[]> => {
        const { stdout } = await execFileAsync(process.execPath, [
          MIGRATE_PROCESS,
          backend.location,
          JSON.stringify(STEPS),
        ]);
        return parse(Type.Array(Type.Integer()), JSON.parse(stdout), 'what a migrating process applied');
      };
      const [doneA, doneB] = await Promise.all([run(), run()]);
      assert.deepEqual([...doneA, ...doneB].sort(), [1, 2]);
      const db = await open();
      assert.deepEqual(await db.all(Name, 'SELECT name FROM marker'), [{ name: dialect }]);
      assert.deepEqual(await migrate(db, STEPS), []);
    });
  });
}
