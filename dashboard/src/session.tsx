// Who is logged in, for every page: the session from the login (or, on a reload, from GET /v1/auth/session).
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { User } from '../../protocol/access.js';
import type { WebSession } from '../../protocol/http/auth.js';

export interface SessionState {
  user: User;
  session: WebSession;
  logout: () => Promise<void>;
}

export const SessionContext = createContext<SessionState | null>(null);

export function useSession(): SessionState {
  const state = useContext(SessionContext);
  if (state === null) throw new Error('a page was rendered outside a logged-in session');
  return state;
}
