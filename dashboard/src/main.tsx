// The dashboard's shell: the session (or the login page), the navigation the user's role allows, and the page the
// URL names.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { WebSession } from '../../protocol/http/auth.js';
import { maySomewhere } from './access.js';
import { ApiError, call, setCsrfToken, whenUnauthorized } from './api.js';
import { ErrorBox, messageOf } from './components.js';
import { LiveIndicator } from './live-indicator.js';
import { PAGES, type Page } from './pages/index.js';
import { Login } from './pages/login.js';
import { API } from './routes.js';
import { Link, match, useLocation } from './router.js';
import { SessionContext } from './session.js';
import './style.css';

function allowed(page: Page, session: WebSession): boolean {
  const needs = typeof page.needs === 'string' ? [page.needs] : page.needs;
  return needs.some((action) => maySomewhere(session.user, action));
}

function App() {
  const [session, setSession] = useState<WebSession | null | 'unknown'>('unknown');
  const [error, setError] = useState<string | null>(null);
  const { path } = useLocation();

  const start = (next: WebSession | null) => {
    setCsrfToken(next?.csrfToken ?? null);
    setSession(next);
  };

  useEffect(() => {
    whenUnauthorized(() => start(null));
    call(API.webSession).then(start, (err: unknown) => {
      if (err instanceof ApiError && err.status === 401) start(null);
      else setError(messageOf(err));
    });
  }, []);

  if (session === 'unknown') return error === null ? <p class="muted">Loading…</p> : <ErrorBox error={error} />;
  if (session === null) return <Login onLogin={start} />;

  const logout = async () => {
    await call(API.logout, { body: {} });
    start(null);
  };
  const found = PAGES.map((page) => ({ page, params: match(page.path, path) })).find((m) => m.params !== null);
  const nav = PAGES.filter((p) => p.title !== null && allowed(p, session));
  return (
    <SessionContext.Provider value={{ user: session.user, session, logout }}>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header>
        <strong class="brand">Skiff</strong>
        <nav aria-label="pages">
          <ul>
            {nav.map((p) => (
              <li key={p.path}>
                <Link href={p.path} aria-current={found?.page === p ? 'page' : undefined}>
                  {p.title}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <span class="who">
          <LiveIndicator /> {session.user.name} ({session.user.role ?? 'fleet roles'}){' '}
          <button type="button" class="link" onClick={logout}>
            Log out
          </button>
        </span>
      </header>
      <main id="main" tabIndex={-1}>
        {found === undefined ? (
          <p>No page here.</p>
        ) : !allowed(found.page, session) ? (
          <p role="alert" data-testid="not-allowed">
            Your role does not let you see this page.
          </p>
        ) : (
          <found.page.component params={found.params ?? {}} />
        )}
      </main>
    </SessionContext.Provider>
  );
}

const root = document.getElementById('app');
if (root === null) throw new Error('the page has no #app element');
render(<App />, root);
