// For admins: users (create, invite, set a password), their API tokens, and fleets' provisioning keys. A secret
// (token, invite code, provisioning key) is shown once, in the answer that made it, as the API shows it.
import { useState } from 'preact/hooks';
import { ROLES, type Role } from '../../../protocol/access.js';
import { PASSWORD_MIN_LENGTH } from '../../../protocol/http/auth.js';
import { may } from '../access.js';
import { call } from '../api.js';
import { ActionButton, ErrorBox, Loading, Time } from '../components.js';
import { useLive } from '../live.js';
import { API } from '../routes.js';
import { useSession } from '../session.js';

/** A secret the API showed once: to copy now. */
function Secret(props: { label: string; value: string | null }) {
  if (props.value === null) return null;
  return (
    <p class="secret" role="status">
      {props.label}: <code data-testid="secret">{props.value}</code> (shown once: copy it now)
    </p>
  );
}

export function Admin() {
  const { user } = useSession();
  return (
    <section aria-labelledby="admin-title">
      <h1 id="admin-title">Administration</h1>
      {may(user, 'user.manage') && <Users />}
      {may(user, 'token.manage') && <Tokens />}
      <ProvisioningKeys />
    </section>
  );
}

function Users() {
  const { data, error, reload } = useLive(() => call(API.listUsers), [], false);
  const [name, setName] = useState('');
  const [role, setRole] = useState<Role | 'none'>('viewer');
  const [secret, setSecret] = useState<{ label: string; value: string } | null>(null);
  const [password, setPassword] = useState<Record<string, string>>({});
  return (
    <section aria-labelledby="users-title" class="panel">
      <h2 id="users-title">Users</h2>
      <form class="row" onSubmit={(e) => e.preventDefault()}>
        <label>
          Name
          <input name="new-user" value={name} onInput={(e) => setName(e.currentTarget.value)} />
        </label>
        <label>
          Role
          <select value={role} onChange={(e) => setRole(e.currentTarget.value as Role | 'none')}>
            {[...ROLES, 'none' as const].map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        </label>
        <ActionButton
          label="Create user"
          disabled={name.trim() === ''}
          run={() => call(API.createUser, { body: { name: name.trim(), role: role === 'none' ? null : role } })}
          onDone={() => {
            setName('');
            reload();
          }}
        />
      </form>
      <Secret label={secret?.label ?? ''} value={secret?.value ?? null} />
      {data === null ? (
        <Loading error={error} />
      ) : (
        <table class="compact">
          <thead>
            <tr>
              <th scope="col">User</th>
              <th scope="col">Role</th>
              <th scope="col">Password</th>
            </tr>
          </thead>
          <tbody>
            {data.map((u) => (
              <tr key={u.name}>
                <td>{u.name}</td>
                <td>
                  {u.role ?? 'fleets only'}
                  {Object.entries(u.fleetRoles ?? {}).map(([f, r]) => ` · ${f}: ${r}`)}
                </td>
                <td>
                  <div class="row">
                    <ActionButton
                      label="Invite code"
                      run={async () => {
                        const invite = await call(API.inviteUser, { params: { name: u.name }, body: {} });
                        setSecret({
                          label: `Invite code for ${u.name}, until ${invite.expiresAt}`,
                          value: invite.code,
                        });
                      }}
                    />
                    <input
                      type="password"
                      autocomplete="new-password"
                      aria-label={`new password for ${u.name}`}
                      placeholder={`new password (${PASSWORD_MIN_LENGTH}+)`}
                      value={password[u.name] ?? ''}
                      onInput={(e) => setPassword({ ...password, [u.name]: e.currentTarget.value })}
                    />
                    <ActionButton
                      label="Set password"
                      disabled={(password[u.name] ?? '').length < PASSWORD_MIN_LENGTH}
                      run={() =>
                        call(API.setPassword, { params: { name: u.name }, body: { password: password[u.name] ?? '' } })
                      }
                      onDone={() => setPassword({ ...password, [u.name]: '' })}
                    />
                  </div>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function Tokens() {
  const { user } = useSession();
  const [owner, setOwner] = useState(user.name);
  const [label, setLabel] = useState('');
  const [secret, setSecret] = useState<string | null>(null);
  const { data, error, reload } = useLive(() => call(API.listTokens, { params: { name: owner } }), [owner], false);
  return (
    <section aria-labelledby="tokens-title" class="panel">
      <h2 id="tokens-title">API tokens</h2>
      <form class="row" onSubmit={(e) => e.preventDefault()}>
        <label>
          User
          <input name="token-user" value={owner} onChange={(e) => setOwner(e.currentTarget.value.trim())} />
        </label>
        <label>
          Label
          <input name="token-label" value={label} maxLength={128} onInput={(e) => setLabel(e.currentTarget.value)} />
        </label>
        <ActionButton
          label="Create token"
          run={async () => {
            const token = await call(API.createToken, { params: { name: owner }, body: label === '' ? {} : { label } });
            setSecret(token.token);
          }}
          onDone={reload}
        />
      </form>
      <Secret label="New token" value={secret} />
      {data === null ? (
        <Loading error={error} />
      ) : (
        <table class="compact">
          <thead>
            <tr>
              <th scope="col">Id</th>
              <th scope="col">Label</th>
              <th scope="col">Last used</th>
              <th scope="col" />
            </tr>
          </thead>
          <tbody>
            {data.map((t) => (
              <tr key={t.id}>
                <td>
                  <code>{t.id}</code>
                </td>
                <td>{t.label ?? '—'}</td>
                <td>
                  <Time at={t.lastUsedAt} />
                </td>
                <td>
                  {t.revokedAt === null ? (
                    <ActionButton
                      label="Revoke"
                      kind="danger"
                      confirm={`Revoke token ${t.id}? Scripts using it stop working at once.`}
                      run={() => call(API.revokeToken, { params: { name: owner, id: t.id } })}
                      onDone={reload}
                    />
                  ) : (
                    <span class="muted">revoked</span>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function ProvisioningKeys() {
  const { user } = useSession();
  const fleets = useLive(() => call(API.listFleets), [], false);
  const names = (fleets.data ?? []).map((f) => f.name).filter((f) => may(user, 'provisioning-key.read', f));
  const [chosen, setChosen] = useState('');
  const fleet = chosen === '' ? (names[0] ?? '') : chosen;
  const [secret, setSecret] = useState<string | null>(null);
  const keys = useLive(
    () => (fleet === '' ? Promise.resolve([]) : call(API.listProvisioningKeys, { params: { fleet } })),
    [fleet],
    false,
  );
  if (names.length === 0) return fleets.data === null ? <Loading error={fleets.error} /> : null;
  return (
    <section aria-labelledby="keys-title" class="panel">
      <h2 id="keys-title">Provisioning keys</h2>
      <div class="row">
        <label>
          Fleet
          <select value={fleet} onChange={(e) => setChosen(e.currentTarget.value)}>
            {names.map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
        </label>
        {may(user, 'provisioning-key.manage', fleet) && (
          <ActionButton
            label="New key"
            run={async () => {
              const key = await call(API.createProvisioningKey, { params: { fleet }, body: {} });
              setSecret(key.key);
            }}
            onDone={keys.reload}
          />
        )}
      </div>
      <Secret label="New provisioning key" value={secret} />
      <ErrorBox error={keys.error} />
      <table class="compact">
        <thead>
          <tr>
            <th scope="col">Id</th>
            <th scope="col">Label</th>
            <th scope="col">By</th>
            <th scope="col">Expires</th>
            <th scope="col" />
          </tr>
        </thead>
        <tbody>
          {(keys.data ?? []).map((k) => (
            <tr key={k.id}>
              <td>
                <code>{k.id}</code>
              </td>
              <td>{k.label ?? '—'}</td>
              <td>{k.createdBy}</td>
              <td>{k.expiresAt ?? 'never'}</td>
              <td>
                {k.revokedAt === null ? (
                  may(user, 'provisioning-key.manage', fleet) && (
                    <ActionButton
                      label="Revoke"
                      kind="danger"
                      confirm={`Revoke provisioning key ${k.id}? Devices can no longer register with it.`}
                      run={() => call(API.revokeProvisioningKey, { params: { fleet, id: k.id } })}
                      onDone={keys.reload}
                    />
                  )
                ) : (
                  <span class="muted">revoked</span>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
