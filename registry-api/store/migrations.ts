// The database schema as numbered steps, for SQLite and PostgreSQL alike (runner: sql/migrate.ts). A step, once
// released, never changes: a later change is a new step. Where the two databases' SQL differs (identity columns,
// triggers, the order of tables that reference each other) a step has one script for each; either way the two
// schemas have the same tables, columns and constraints, and both store times as ISO-8601 TEXT, JSON as TEXT and
// booleans as 0/1 INTEGER, so the store's SQL is one text for both.
import type { Migration } from './sql/migrate.js';

export type { Migration };

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'fleets, releases, devices, device state',
    sql: {
      sqlite: `
      CREATE TABLE fleets (
        name TEXT PRIMARY KEY,
        device_type TEXT NOT NULL,
        provisioning_key TEXT NOT NULL,
        policy_mode TEXT NOT NULL CHECK (policy_mode IN ('latest', 'pinned')),
        pinned_release_id TEXT REFERENCES releases (id),
        poll_interval_seconds INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        CHECK ((policy_mode = 'pinned') = (pinned_release_id IS NOT NULL))
      );
      CREATE TABLE releases (
        id TEXT PRIMARY KEY,
        fleet TEXT NOT NULL REFERENCES fleets (name),
        seq INTEGER NOT NULL,
        version TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('pending', 'ready', 'failed')),
        compose TEXT NOT NULL,
        spec TEXT NOT NULL,
        images TEXT NOT NULL,
        notes TEXT,
        created_at TEXT NOT NULL,
        UNIQUE (fleet, version),
        UNIQUE (fleet, seq)
      );
      CREATE TABLE devices (
        uuid TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        fleet TEXT NOT NULL REFERENCES fleets (name),
        device_type TEXT NOT NULL,
        key_hash TEXT NOT NULL UNIQUE,
        pinned_release_id TEXT REFERENCES releases (id),
        created_at TEXT NOT NULL,
        last_seen TEXT
      );
      CREATE INDEX devices_by_fleet ON devices (fleet);
      CREATE TABLE device_state (
        uuid TEXT PRIMARY KEY REFERENCES devices (uuid) ON DELETE CASCADE,
        report TEXT NOT NULL,
        received_at TEXT NOT NULL
      );
`,
      postgres: `
      CREATE TABLE fleets (
        name TEXT PRIMARY KEY,
        device_type TEXT NOT NULL,
        provisioning_key TEXT NOT NULL,
        policy_mode TEXT NOT NULL CHECK (policy_mode IN ('latest', 'pinned')),
        pinned_release_id TEXT,
        poll_interval_seconds INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        CHECK ((policy_mode = 'pinned') = (pinned_release_id IS NOT NULL))
      );
      CREATE TABLE releases (
        id TEXT PRIMARY KEY,
        fleet TEXT NOT NULL REFERENCES fleets (name),
        seq INTEGER NOT NULL,
        version TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('pending', 'ready', 'failed')),
        compose TEXT NOT NULL,
        spec TEXT NOT NULL,
        images TEXT NOT NULL,
        notes TEXT,
        created_at TEXT NOT NULL,
        UNIQUE (fleet, version),
        UNIQUE (fleet, seq)
      );
      -- PostgreSQL checks a reference when it is declared: the pin can point at releases only once they exist.
      ALTER TABLE fleets ADD FOREIGN KEY (pinned_release_id) REFERENCES releases (id);
      CREATE TABLE devices (
        uuid TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        fleet TEXT NOT NULL REFERENCES fleets (name),
        device_type TEXT NOT NULL,
        key_hash TEXT NOT NULL UNIQUE,
        pinned_release_id TEXT REFERENCES releases (id),
        created_at TEXT NOT NULL,
        last_seen TEXT
      );
      CREATE INDEX devices_by_fleet ON devices (fleet);
      CREATE TABLE device_state (
        uuid TEXT PRIMARY KEY REFERENCES devices (uuid) ON DELETE CASCADE,
        report TEXT NOT NULL,
        received_at TEXT NOT NULL
      );
    `,
    },
  },
  {
    version: 2,
    name: 'users, api tokens, audit log',
    sql: {
      sqlite: `
      CREATE TABLE users (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE,
        role TEXT NOT NULL CHECK (role IN ('viewer', 'developer', 'operator', 'admin')),
        created_at TEXT NOT NULL
      );
      CREATE TABLE api_tokens (
        id TEXT PRIMARY KEY,
        hash TEXT NOT NULL UNIQUE,
        user_id INTEGER NOT NULL REFERENCES users (id),
        label TEXT,
        bootstrap INTEGER NOT NULL DEFAULT 0 CHECK (bootstrap IN (0, 1)),
        created_at TEXT NOT NULL,
        last_used_at TEXT,
        revoked_at TEXT
      );
      CREATE INDEX api_tokens_by_user ON api_tokens (user_id);
      CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        fleet TEXT,
        detail TEXT NOT NULL
      );
      CREATE INDEX audit_log_by_fleet ON audit_log (fleet, id);
      CREATE INDEX audit_log_by_target ON audit_log (target, id);
      -- Who changed what is evidence: the API only ever appends.
      CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
      CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
`,
      postgres: `
      CREATE TABLE users (
        id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        role TEXT NOT NULL CHECK (role IN ('viewer', 'developer', 'operator', 'admin')),
        created_at TEXT NOT NULL
      );
      CREATE TABLE api_tokens (
        id TEXT PRIMARY KEY,
        hash TEXT NOT NULL UNIQUE,
        user_id BIGINT NOT NULL REFERENCES users (id),
        label TEXT,
        bootstrap INTEGER NOT NULL DEFAULT 0 CHECK (bootstrap IN (0, 1)),
        created_at TEXT NOT NULL,
        last_used_at TEXT,
        revoked_at TEXT
      );
      CREATE INDEX api_tokens_by_user ON api_tokens (user_id);
      CREATE TABLE audit_log (
        id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        fleet TEXT,
        detail TEXT NOT NULL
      );
      CREATE INDEX audit_log_by_fleet ON audit_log (fleet, id);
      CREATE INDEX audit_log_by_target ON audit_log (target, id);
      -- Who changed what is evidence: the API only ever appends.
      CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'the audit log is append-only'; END;
      $$;
      CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
      CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
        FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
      CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
        FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
    `,
    },
  },
  {
    version: 3,
    name: 'device revocation, note and tags',
    sql: `
      ALTER TABLE devices ADD COLUMN revoked_at TEXT;
      ALTER TABLE devices ADD COLUMN note TEXT;
      ALTER TABLE devices ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
    `,
  },
  {
    version: 4,
    name: 'device identity keys, admission status, short ids, device tokens',
    // key_hash stays for devices from before device keys (they prove themselves with it once); new devices get
    // a value no sha256 can match. short_id is filled in by the store for rows from before (it hashes the uuid).
    sql: `
      ALTER TABLE devices ADD COLUMN public_key TEXT;
      ALTER TABLE devices ADD COLUMN auth_status TEXT NOT NULL DEFAULT 'accepted'
        CHECK (auth_status IN ('preauthorized', 'pending', 'accepted', 'rejected'));
      ALTER TABLE devices ADD COLUMN short_id TEXT;
      ALTER TABLE devices ADD COLUMN auth_timestamp TEXT;
      UPDATE devices SET auth_status = 'rejected' WHERE revoked_at IS NOT NULL;
      CREATE UNIQUE INDEX devices_by_public_key ON devices (public_key);
      CREATE UNIQUE INDEX devices_by_short_id ON devices (short_id);
      CREATE INDEX devices_by_auth_status ON devices (auth_status);
      CREATE TABLE device_tokens (
        hash TEXT PRIMARY KEY,
        uuid TEXT NOT NULL REFERENCES devices (uuid) ON DELETE CASCADE,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL
      );
      CREATE INDEX device_tokens_by_uuid ON device_tokens (uuid);
    `,
  },
  {
    version: 5,
    name: 'fleet and device settings, config vars, release verification',
    // settings columns hold only the fields set at that level, as JSON: absent means inherited. Releases pushed
    // before verification existed keep their status; their verification stays unknown (NULL).
    sql: `
      ALTER TABLE fleets ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';
      ALTER TABLE releases ADD COLUMN pushed_by TEXT;
      ALTER TABLE releases ADD COLUMN verified_at TEXT;
      ALTER TABLE releases ADD COLUMN failure TEXT;
      CREATE INDEX releases_by_status ON releases (status);
      CREATE TABLE device_settings (
        uuid TEXT PRIMARY KEY REFERENCES devices (uuid) ON DELETE CASCADE,
        settings TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );
      CREATE TABLE fleet_config_vars (
        fleet TEXT NOT NULL REFERENCES fleets (name),
        name TEXT NOT NULL,
        value TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (fleet, name)
      );
      CREATE TABLE device_config_vars (
        uuid TEXT NOT NULL REFERENCES devices (uuid) ON DELETE CASCADE,
        name TEXT NOT NULL,
        value TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (uuid, name)
      );
    `,
  },
  {
    version: 6,
    name: 'host OS releases and their fleet and device pins',
    // The bundle bytes live in files (os-bundles dir); a row names its file. A pin references its release, so a
    // pinned release cannot be deleted; no pin row means: leave the host OS alone.
    sql: `
      CREATE TABLE os_releases (
        id TEXT PRIMARY KEY,
        device_type TEXT NOT NULL,
        version TEXT NOT NULL,
        digest TEXT NOT NULL,
        size INTEGER NOT NULL CHECK (size > 0),
        compatible TEXT,
        file TEXT NOT NULL,
        created_at TEXT NOT NULL,
        uploaded_by TEXT NOT NULL,
        UNIQUE (device_type, version)
      );
      CREATE TABLE fleet_os_pins (
        fleet TEXT PRIMARY KEY REFERENCES fleets (name),
        os_release_id TEXT NOT NULL REFERENCES os_releases (id),
        pinned_at TEXT NOT NULL
      );
      CREATE INDEX fleet_os_pins_by_release ON fleet_os_pins (os_release_id);
      CREATE TABLE device_os_pins (
        uuid TEXT PRIMARY KEY REFERENCES devices (uuid) ON DELETE CASCADE,
        os_release_id TEXT NOT NULL REFERENCES os_releases (id),
        pinned_at TEXT NOT NULL
      );
      CREATE INDEX device_os_pins_by_release ON device_os_pins (os_release_id);
    `,
  },
  {
    version: 7,
    name: 'target generations of fleets and devices',
    // Bumped in the transaction of every change that can shape a target (store/target-generation.ts), so an API
    // instance may keep computed targets in memory and still see another instance's pin on the next poll.
    sql: `
      ALTER TABLE fleets ADD COLUMN target_generation INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE devices ADD COLUMN target_generation INTEGER NOT NULL DEFAULT 0;
    `,
  },
  {
    version: 8,
    name: 'provisioning keys as records, stored hashed',
    // SQL cannot hash on SQLite, so a fleet's clear key (fleets.provisioning_key) becomes a record after the
    // migration, in code: store/provisioning-keys.ts hashLegacyProvisioningKeys, which then blanks the column.
    sql: `
      CREATE TABLE provisioning_keys (
        id TEXT PRIMARY KEY,
        fleet TEXT NOT NULL REFERENCES fleets (name),
        hash TEXT NOT NULL UNIQUE,
        label TEXT,
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expires_at TEXT,
        revoked_at TEXT
      );
      CREATE INDEX provisioning_keys_by_fleet ON provisioning_keys (fleet);
    `,
  },
  {
    version: 9,
    name: 'issued versions of signed targets',
    // Per device: the last version its target was issued with, the content it was for and its validity
    // (store/target-issues.ts). A device refuses a target with a lower version, so this number only goes up.
    sql: `
      CREATE TABLE target_issues (
        uuid TEXT PRIMARY KEY REFERENCES devices (uuid) ON DELETE CASCADE,
        version BIGINT NOT NULL CHECK (version > 0),
        content_hash TEXT NOT NULL,
        issued_at TEXT NOT NULL,
        expires_at TEXT NOT NULL
      );
    `,
  },
  {
    version: 10,
    name: 'developer release signatures and the release keys each fleet trusts',
    // A release's signature is JSON {keyId, value} (protocol/release-signature.ts), null when pushed unsigned. A
    // fleet's trusted keys are one signed key-set document (the keys are read from it), replaced as a whole.
    sql: `
      ALTER TABLE releases ADD COLUMN signature TEXT;
      CREATE TABLE fleet_release_keys (
        fleet TEXT PRIMARY KEY REFERENCES fleets (name),
        version INTEGER NOT NULL CHECK (version > 0),
        document TEXT NOT NULL,
        signature TEXT NOT NULL,
        updated_by TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );
    `,
  },
  {
    version: 11,
    name: 'fleet roles, release review and approval',
    // A user with fleets_only = 1 has no global role: the role column keeps its old constraint (SQLite cannot drop
    // NOT NULL without rebuilding the table) and is not read for them. Releases from before review keep running:
    // they are 'not-required'; the fleets' default policy holds only releases pushed from now on.
    sql: `
      CREATE TABLE fleet_roles (
        user_name TEXT NOT NULL REFERENCES users (name),
        fleet TEXT NOT NULL REFERENCES fleets (name),
        role TEXT NOT NULL CHECK (role IN ('viewer', 'developer', 'operator', 'admin')),
        granted_by TEXT NOT NULL,
        granted_at TEXT NOT NULL,
        PRIMARY KEY (user_name, fleet)
      );
      CREATE INDEX fleet_roles_by_fleet ON fleet_roles (fleet);
      ALTER TABLE users ADD COLUMN fleets_only INTEGER NOT NULL DEFAULT 0 CHECK (fleets_only IN (0, 1));
      ALTER TABLE fleets ADD COLUMN approval TEXT NOT NULL DEFAULT 'privileged'
        CHECK (approval IN ('privileged', 'always', 'never'));
      ALTER TABLE fleets ADD COLUMN allowed_host_paths TEXT NOT NULL DEFAULT '[]';
      ALTER TABLE releases ADD COLUMN approval TEXT NOT NULL DEFAULT 'not-required'
        CHECK (approval IN ('not-required', 'pending', 'approved', 'rejected'));
      ALTER TABLE releases ADD COLUMN review_reasons TEXT NOT NULL DEFAULT '[]';
      ALTER TABLE releases ADD COLUMN decided_by TEXT;
      ALTER TABLE releases ADD COLUMN decided_at TEXT;
      ALTER TABLE releases ADD COLUMN decision_note TEXT;
    `,
  },
  {
    version: 13,
    name: 'releases keep the image references people wrote and a hash of their content',
    // sources: service -> the tag the compose file named, for images the push copied into the fleet's registry.
    // content_hash: what an unchanged push is recognised by (the fleet's newest release with the same hash is
    // returned instead of a new one).
    sql: `
      ALTER TABLE releases ADD COLUMN sources TEXT;
      ALTER TABLE releases ADD COLUMN content_hash TEXT;
    `,
  },
  {
    version: 14,
    name: 'device types and platforms of fleets, devices and releases',
    // A fleet admits a list of device types (protocol/device-types.ts). Fleets from before keep their free-text
    // device_type (host OS releases are filed under it) and admit it when it is a known type, else generic-amd64:
    // the only platform Skiff built for until then. A device's platform is what it reported when it registered
    // (NULL: never said). A release's platforms are what its images were found to have (NULL: not read yet).
    sql: `
      ALTER TABLE fleets ADD COLUMN device_types TEXT NOT NULL DEFAULT '["generic-amd64"]';
      UPDATE fleets SET device_types = '["' || device_type || '"]'
        WHERE device_type IN ('raspberry-pi', 'raspberry-pi2', 'raspberrypi3', 'raspberrypizero2w', 'fincm3', 'raspberrypi3-64', 'raspberrypi4-64', 'raspberrypi400-64', 'raspberrypicm4-64', 'raspberrypi5', 'generic-armv7', 'generic-aarch64', 'generic-amd64');
      ALTER TABLE devices ADD COLUMN platform TEXT;
      ALTER TABLE releases ADD COLUMN platforms TEXT;
    `,
  },
  {
    version: 16,
    name: 'config vars scoped to one service of a fleet or a device',
    // Tables of their own rather than a service column on the unscoped ones: their primary keys stay as they are
    // and a fleet's or device's unscoped vars read exactly as before.
    sql: `
      CREATE TABLE fleet_service_config_vars (
        fleet TEXT NOT NULL REFERENCES fleets (name),
        service TEXT NOT NULL,
        name TEXT NOT NULL,
        value TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (fleet, service, name)
      );
      CREATE TABLE device_service_config_vars (
        uuid TEXT NOT NULL REFERENCES devices (uuid) ON DELETE CASCADE,
        service TEXT NOT NULL,
        name TEXT NOT NULL,
        value TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (uuid, service, name)
      );
    `,
  },
  {
    version: 17,
    name: "devices' data use per day and per month, by purpose",
    // period: 'YYYY-MM' (a month, as the device's own counters say) or 'YYYY-MM-DD' (a day: what those counters grew
    // by in the reports received that day, UTC). BIGINT: a month of image downloads passes 2^31 bytes.
    sql: `
      CREATE TABLE device_traffic (
        uuid TEXT NOT NULL REFERENCES devices (uuid) ON DELETE CASCADE,
        period TEXT NOT NULL,
        purpose TEXT NOT NULL,
        sent BIGINT NOT NULL CHECK (sent >= 0),
        received BIGINT NOT NULL CHECK (received >= 0),
        updated_at TEXT NOT NULL,
        PRIMARY KEY (uuid, period, purpose)
      );
    `,
  },
  {
    version: 18,
    name: 'files releases carry, per fleet by digest',
    // Configuration files, at most 1 MiB each (protocol/compose/files.ts), kept in the database as base64 TEXT (the
    // store's values are TEXT on both databases): no file storage to configure or back up apart from the database.
    // Per fleet, so a device reads only its own fleet's files and a fleet's files go with it.
    sql: `
      CREATE TABLE release_files (
        fleet TEXT NOT NULL REFERENCES fleets (name),
        digest TEXT NOT NULL,
        size INTEGER NOT NULL,
        content TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (fleet, digest)
      );
    `,
  },
  {
    version: 19,
    name: 'who has which box: the customer, site, address and meter a device was commissioned for',
    sql: `
      ALTER TABLE devices ADD COLUMN customer TEXT;
      ALTER TABLE devices ADD COLUMN site TEXT;
      ALTER TABLE devices ADD COLUMN address TEXT;
      ALTER TABLE devices ADD COLUMN meter_serial TEXT;
    `,
  },
  {
    version: 25,
    name: "devices' reverse SSH tunnels and operators' SSH sessions",
    // One port per device on the jump host, unique across the fleet, and the tunnel key that may listen on it
    // (unique too: the jump host finds the device by the key it presents). The row goes with the device, and is
    // deleted when the device is revoked (registry-api/remote-access/), which frees the port. A session is one
    // certificate issued to an operator: who, which device, when, valid until when, and when the CLI said it ended.
    sql: `
      CREATE TABLE device_tunnels (
        uuid TEXT PRIMARY KEY REFERENCES devices (uuid) ON DELETE CASCADE,
        port INTEGER NOT NULL UNIQUE,
        public_key TEXT NOT NULL UNIQUE,
        registered_at TEXT NOT NULL
      );
      CREATE TABLE ssh_sessions (
        id TEXT PRIMARY KEY,
        uuid TEXT NOT NULL REFERENCES devices (uuid) ON DELETE CASCADE,
        actor TEXT NOT NULL,
        purpose TEXT NOT NULL,
        principal TEXT NOT NULL,
        issued_at TEXT NOT NULL,
        valid_before TEXT NOT NULL,
        ended_at TEXT,
        exit_code INTEGER
      );
      CREATE INDEX ssh_sessions_by_device ON ssh_sessions (uuid);
    `,
  },
  {
    version: 27,
    name: "people's passwords, one-time invite codes and browser sessions",
    // Passwords as scrypt strings (registry-api/web/passwords.ts), never the password. An invite code and a session
    // id are kept as their sha256 only, like API tokens: a leaked database opens no account. A session keeps its
    // CSRF token in the clear: it is no credential alone and the server compares it with what the page sends.
    sql: `
      CREATE TABLE user_passwords (
        user_name TEXT PRIMARY KEY REFERENCES users (name),
        hash TEXT NOT NULL,
        set_by TEXT NOT NULL,
        set_at TEXT NOT NULL
      );
      CREATE TABLE user_invites (
        user_name TEXT PRIMARY KEY REFERENCES users (name),
        code_hash TEXT NOT NULL UNIQUE,
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL
      );
      CREATE TABLE web_sessions (
        id_hash TEXT PRIMARY KEY,
        user_name TEXT NOT NULL REFERENCES users (name),
        csrf_token TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL
      );
      CREATE INDEX web_sessions_by_user ON web_sessions (user_name);
      CREATE INDEX web_sessions_by_expiry ON web_sessions (expires_at);
    `,
  },
  {
    version: 26,
    name: "remote actions on devices: a service's restart, stop or start, a reboot, a diagnostics bundle",
    // The bundle is kept in the row as JSON TEXT (at most 1 MiB, protocol/device-actions.ts), like release files:
    // nothing else to store or back up. Rows go with their device.
    sql: `
      CREATE TABLE device_actions (
        id TEXT PRIMARY KEY,
        uuid TEXT NOT NULL REFERENCES devices (uuid) ON DELETE CASCADE,
        fleet TEXT NOT NULL,
        action TEXT NOT NULL,
        service TEXT,
        status TEXT NOT NULL,
        requested_by TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        delivered_at TEXT,
        finished_at TEXT,
        message TEXT,
        diagnostics TEXT
      );
      CREATE INDEX device_actions_waiting ON device_actions (uuid, status, expires_at);
    `,
  },
  {
    version: 20,
    name: "a fleet's saved device groups, and archived fleets",
    // A group is a selector's text (protocol/device-selector.ts), parsed again when used, so devices join and
    // leave it as their attributes change. archived_at set: the fleet takes no new devices or releases.
    sql: `
      CREATE TABLE device_groups (
        fleet TEXT NOT NULL REFERENCES fleets (name),
        name TEXT NOT NULL,
        selector TEXT NOT NULL,
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (fleet, name)
      );
      ALTER TABLE fleets ADD COLUMN archived_at TEXT;
    `,
  },
  {
    version: 21,
    name: 'rollouts: a release sent to a selection of a fleet in phases, and the devices each covers',
    // A rollout's phases and settings are JSON (a handful of fields, read and written whole with the rollout);
    // `revision` moves with every step, which applies only at the revision it was decided on (rollouts/store.ts).
    // A device follows the newest rollout covering it: its row says whether it was assigned the release, rolled
    // back, or still waits, and what it had before.
    sql: `
      CREATE TABLE rollouts (
        id TEXT PRIMARY KEY,
        fleet TEXT NOT NULL REFERENCES fleets (name),
        release_id TEXT NOT NULL REFERENCES releases (id),
        selector TEXT NOT NULL,
        canary TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('running', 'paused', 'halted', 'aborted', 'completed')),
        phase INTEGER NOT NULL CHECK (phase >= 0),
        phases TEXT NOT NULL,
        settings TEXT NOT NULL,
        revision INTEGER NOT NULL,
        reason TEXT,
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );
      CREATE INDEX rollouts_by_fleet ON rollouts (fleet, created_at);
      CREATE INDEX rollouts_by_state ON rollouts (state);
      CREATE TABLE rollout_devices (
        rollout_id TEXT NOT NULL REFERENCES rollouts (id),
        uuid TEXT NOT NULL REFERENCES devices (uuid) ON DELETE CASCADE,
        phase INTEGER NOT NULL CHECK (phase >= 0),
        state TEXT NOT NULL CHECK (state IN ('pending', 'assigned', 'rolled-back')),
        previous_release_id TEXT,
        assigned_at TEXT,
        rolled_back_at TEXT,
        PRIMARY KEY (rollout_id, uuid)
      );
      CREATE INDEX rollout_devices_by_device ON rollout_devices (uuid);
      CREATE INDEX rollout_devices_by_phase ON rollout_devices (rollout_id, phase, state);
    `,
  },
  {
    version: 23,
    name: "fleet events' webhooks and their delivery queue, devices' presence, devices' metrics history",
    // Webhook deliveries are a queue in the database so that an API restart loses none; a delivery carries the
    // event as sent (its body is what is signed). Presence is what the last online/offline event said, so that of
    // several instances (or a restarted one) only the one whose conditional UPDATE changes it announces the change.
    // Metrics: raw samples (one per device per 10 s slot, kept an hour) and 15-minute buckets (sum, count, min, max,
    // kept 30 days), times as milliseconds since the epoch for range reads.
    sql: `
      CREATE TABLE webhooks (
        id TEXT PRIMARY KEY,
        fleet TEXT REFERENCES fleets (name),
        url TEXT NOT NULL,
        kinds TEXT NOT NULL,
        secret TEXT NOT NULL,
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL
      );
      CREATE TABLE webhook_deliveries (
        id TEXT PRIMARY KEY,
        webhook_id TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
        event_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        body TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
        attempts INTEGER NOT NULL,
        next_attempt_ms BIGINT NOT NULL,
        last_status INTEGER,
        last_error TEXT,
        created_at TEXT NOT NULL,
        delivered_at TEXT,
        UNIQUE (webhook_id, event_id)
      );
      CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_ms);
      CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (webhook_id, created_at);
      CREATE TABLE device_presence (
        uuid TEXT PRIMARY KEY REFERENCES devices (uuid) ON DELETE CASCADE,
        online INTEGER NOT NULL,
        changed_at TEXT NOT NULL
      );
      CREATE TABLE device_metrics_raw (
        uuid TEXT NOT NULL REFERENCES devices (uuid) ON DELETE CASCADE,
        at_ms BIGINT NOT NULL,
        cpu_percent DOUBLE PRECISION NOT NULL,
        memory_used BIGINT NOT NULL,
        memory_total BIGINT NOT NULL,
        temperature DOUBLE PRECISION,
        disk_used BIGINT NOT NULL,
        disk_total BIGINT NOT NULL,
        PRIMARY KEY (uuid, at_ms)
      );
      CREATE INDEX device_metrics_raw_by_time ON device_metrics_raw (at_ms);
      CREATE TABLE device_metrics_15m (
        uuid TEXT NOT NULL REFERENCES devices (uuid) ON DELETE CASCADE,
        bucket_ms BIGINT NOT NULL,
        samples INTEGER NOT NULL,
        cpu_sum DOUBLE PRECISION NOT NULL,
        cpu_min DOUBLE PRECISION NOT NULL,
        cpu_max DOUBLE PRECISION NOT NULL,
        memory_sum DOUBLE PRECISION NOT NULL,
        memory_min BIGINT NOT NULL,
        memory_max BIGINT NOT NULL,
        memory_total BIGINT NOT NULL,
        temperature_samples INTEGER NOT NULL,
        temperature_sum DOUBLE PRECISION NOT NULL,
        temperature_min DOUBLE PRECISION,
        temperature_max DOUBLE PRECISION,
        disk_sum DOUBLE PRECISION NOT NULL,
        disk_min BIGINT NOT NULL,
        disk_max BIGINT NOT NULL,
        disk_total BIGINT NOT NULL,
        PRIMARY KEY (uuid, bucket_ms)
      );
      CREATE INDEX device_metrics_15m_by_time ON device_metrics_15m (bucket_ms);
    `,
  },
];
