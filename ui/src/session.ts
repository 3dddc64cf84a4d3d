/**
 * Who is signed in (GET /me: the user, role, grants and whether a password change is due),
 * held in memory for the app shell and the pages. `can` decides which links and buttons show;
 * the server enforces the same grants regardless.
 */
import { useEffect, useState } from 'preact/hooks';
import { api, type Grant, type Me, setCsrfToken, unwrap } from './api/client';

export type SessionState = { status: 'loading' } | { status: 'signed-out' } | { status: 'signed-in'; me: Me };

let state: SessionState = { status: 'loading' };
const listeners = new Set<(s: SessionState) => void>();

function set(next: SessionState): void {
  state = next;
  for (const listener of listeners) listener(state);
}

export function currentSession(): SessionState {
  return state;
}

export function useSession(): SessionState {
  const [value, setValue] = useState(state);
  useEffect(() => {
    listeners.add(setValue);
    setValue(state);
    return () => {
      listeners.delete(setValue);
    };
  }, []);
  return value;
}

/** The signed-in user's facts, or undefined. */
export function useMe(): Me | undefined {
  const s = useSession();
  return s.status === 'signed-in' ? s.me : undefined;
}

/** Reads GET /me; a 401 means nobody is signed in. */
export async function refreshSession(): Promise<void> {
  try {
    const me = await unwrap(api.GET('/api/admin/v1/me'));
    if (me.csrfToken !== undefined) setCsrfToken(me.csrfToken);
    set({ status: 'signed-in', me });
  } catch (error) {
    if ((error as { status?: number }).status === 401) {
      setCsrfToken(undefined);
      set({ status: 'signed-out' });
      return;
    }
    throw error;
  }
}

export async function signIn(email: string, password: string): Promise<void> {
  const answer = await unwrap(api.POST('/api/admin/v1/session', { body: { email, password } }));
  setCsrfToken(answer.csrfToken);
  await refreshSession();
}

export async function signOut(): Promise<void> {
  try {
    await unwrap(api.DELETE('/api/admin/v1/session'));
  } finally {
    markSignedOut();
  }
}

/** The session is gone (signed out, or a 401): forget everything about it. */
export function markSignedOut(): void {
  setCsrfToken(undefined);
  set({ status: 'signed-out' });
}

/** May the user do at least one of `anyOf`? (An empty list: any signed-in user.) */
export function can(me: Me | undefined, ...anyOf: Grant[]): boolean {
  if (!me) return false;
  return anyOf.length === 0 || anyOf.some((grant) => me.grants.includes(grant));
}
