// Logging in with a user name and password, or setting a first password with an admin's one-time invite code.
import { useState } from 'preact/hooks';
import { PASSWORD_MIN_LENGTH, type WebSession } from '../../../protocol/http/auth.js';
import { call } from '../api.js';
import { ErrorBox, messageOf } from '../components.js';
import { API } from '../routes.js';

export function Login(props: { onLogin: (session: WebSession) => void }) {
  const [invite, setInvite] = useState(false);
  const [user, setUser] = useState('');
  const [password, setPassword] = useState('');
  const [code, setCode] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const session = invite
        ? await call(API.redeemInvite, { body: { user: user.trim(), code: code.trim(), password } })
        : await call(API.login, { body: { user: user.trim(), password } });
      props.onLogin(session);
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main id="main" class="login">
      <h1>Skiff</h1>
      <form onSubmit={submit} aria-labelledby="login-title">
        <h2 id="login-title">{invite ? 'Set your password' : 'Log in'}</h2>
        <label>
          User name
          <input
            name="user"
            autocomplete="username"
            required
            value={user}
            onInput={(e) => setUser(e.currentTarget.value)}
          />
        </label>
        {invite && (
          <label>
            Invite code
            <input
              name="code"
              autocomplete="one-time-code"
              required
              value={code}
              onInput={(e) => setCode(e.currentTarget.value)}
            />
          </label>
        )}
        <label>
          {invite ? `New password (at least ${PASSWORD_MIN_LENGTH} characters)` : 'Password'}
          <input
            name="password"
            type="password"
            autocomplete={invite ? 'new-password' : 'current-password'}
            required
            minLength={invite ? PASSWORD_MIN_LENGTH : 1}
            value={password}
            onInput={(e) => setPassword(e.currentTarget.value)}
          />
        </label>
        <ErrorBox error={error} />
        <button type="submit" class="primary" disabled={busy}>
          {invite ? 'Set password and log in' : 'Log in'}
        </button>
        <button type="button" class="link" onClick={() => setInvite(!invite)}>
          {invite ? 'I have a password' : 'I have an invite code'}
        </button>
      </form>
    </main>
  );
}
