/**
 * A small history router for the app's own paths below /admin. Paths here are the part after
 * /admin (`/clients`); only paths, never secrets, go into the URL and the history.
 */
import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';

export { matchPath, safeNext } from './paths';

export const BASE = '/admin';

export interface AppLocation {
  /** The path below /admin, starting with `/` (`/` for /admin itself). */
  path: string;
  search: URLSearchParams;
}

function read(): AppLocation {
  const { pathname, search } = window.location;
  const below = pathname.startsWith(BASE) ? pathname.slice(BASE.length) : pathname;
  return { path: below === '' ? '/' : below, search: new URLSearchParams(search) };
}

const listeners = new Set<() => void>();
window.addEventListener('popstate', () => {
  for (const listener of listeners) listener();
});

/** Goes to an app path (`/clients`, `/sign-in?next=%2Fclients`). */
export function navigate(to: string, options: { replace?: boolean } = {}): void {
  const url = `${BASE}${to === '/' ? '/' : to}`;
  if (url === `${window.location.pathname}${window.location.search}`) return;
  if (options.replace) window.history.replaceState(null, '', url);
  else window.history.pushState(null, '', url);
  for (const listener of listeners) listener();
}

export function useLocation(): AppLocation {
  const [location, setLocation] = useState(read);
  useEffect(() => {
    const update = () => setLocation(read());
    listeners.add(update);
    return () => {
      listeners.delete(update);
    };
  }, []);
  return location;
}

interface LinkProps {
  to: string;
  children: ComponentChildren;
  class?: string;
  'aria-current'?: 'page';
}

/** An <a> to an app path that navigates without a reload (modified clicks open as usual). */
export function Link({ to, children, ...rest }: LinkProps) {
  return (
    <a
      {...rest}
      href={`${BASE}${to}`}
      onClick={(event) => {
        if (event.defaultPrevented || event.button !== 0) return;
        if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
        event.preventDefault();
        navigate(to);
      }}
    >
      {children}
    </a>
  );
}
