/**
 * The app shell: sign-in (and the forced password change) until there is a session, then the
 * header, the navigation built from the page registry (./pages.ts) filtered by the user's
 * grants, and the page for the current path.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { onSessionExpired } from './api/client';
import { ChangePassword } from './auth/ChangePassword';
import { SignIn } from './auth/SignIn';
import { ErrorBanner } from './components/ErrorBanner';
import { navSections, PAGES, type PageDefinition, pageAllowed } from './pages';
import { Link, matchPath, navigate, safeNext, useLocation } from './router';
import { markSignedOut, refreshSession, signOut, useSession } from './session';

const SIGN_IN = '/sign-in';

// A 401 on any call: the session ended. Back to sign-in, remembering the page (its path only).
onSessionExpired(() => {
  const here = window.location.pathname.replace(/^\/admin/, '') || '/';
  markSignedOut();
  if (!here.startsWith(SIGN_IN)) navigate(`${SIGN_IN}?next=${encodeURIComponent(here)}`, { replace: true });
});

export function App() {
  const session = useSession();
  const location = useLocation();
  const [startError, setStartError] = useState<unknown>();

  useEffect(() => {
    refreshSession().catch(setStartError);
  }, []);

  // Signed out on a page: go to sign-in with the page to come back to.
  useEffect(() => {
    if (session.status === 'signed-out' && location.path !== SIGN_IN) {
      const next = location.path === '/' ? '' : `?next=${encodeURIComponent(location.path)}`;
      navigate(`${SIGN_IN}${next}`, { replace: true });
    }
    if (session.status === 'signed-in' && location.path === SIGN_IN) {
      navigate(safeNext(location.search.get('next')), { replace: true });
    }
  }, [session.status, location.path, location.search]);

  if (startError) return <ErrorBanner error={startError} />;
  if (session.status === 'loading') return <p class="loading">Loading…</p>;
  if (session.status === 'signed-out') return <SignIn />;
  if (session.me.mustChangePassword) return <ChangePassword me={session.me} />;
  return <Shell />;
}

function Shell() {
  const session = useSession();
  const me = session.status === 'signed-in' ? session.me : undefined;
  const location = useLocation();
  const [navOpen, setNavOpen] = useState(false);
  const [error, setError] = useState<unknown>();
  const headingRef = useRef<HTMLHeadingElement>(null);
  const firstRender = useRef(true);

  const visible = PAGES.filter((page) => pageAllowed(page, me));
  let current: { page: PageDefinition; params: Record<string, string> } | undefined;
  for (const page of visible) {
    const params = matchPath(page.path, location.path);
    if (params) {
      current = { page, params };
      break;
    }
  }
  const home = visible.find((page) => page.nav !== false);

  useEffect(() => {
    if (location.path === '/' && home) navigate(home.path, { replace: true });
  }, [location.path, home]);

  useEffect(() => {
    document.title = `${current?.page.title ?? 'Not found'} · Gatehouse admin`;
    setNavOpen(false);
    // Move focus to the new page's heading (not on the first load), so screen readers hear it.
    if (firstRender.current) firstRender.current = false;
    else headingRef.current?.focus();
  }, [current?.page]);

  const doSignOut = () => {
    signOut()
      .then(() => navigate(SIGN_IN, { replace: true }))
      .catch(setError);
  };

  const Page = current?.page.component;
  return (
    <div class="shell">
      <a class="skip-link" href="#main">
        Skip to content
      </a>
      <header class="topbar">
        <button
          type="button"
          class="nav-toggle"
          aria-expanded={navOpen}
          aria-controls="primary-nav"
          onClick={() => setNavOpen(!navOpen)}
        >
          Menu
        </button>
        <span class="brand">Gatehouse</span>
        <span class="who">
          <span class="who-email">{me?.user.email}</span> <span class="muted">({me?.role.name})</span>
        </span>
        <button type="button" onClick={doSignOut}>
          Sign out
        </button>
      </header>
      <nav id="primary-nav" class={navOpen ? 'sidenav open' : 'sidenav'} aria-label="Admin">
        <p class="nav-root">Admin</p>
        {navSections(visible).map(({ section, pages }) => (
          <div class="nav-section" key={section}>
            <h2 class="nav-heading">{section}</h2>
            <ul>
              {pages.map((page) => (
                <li key={page.path}>
                  <Link to={page.path} aria-current={current?.page === page ? 'page' : undefined}>
                    {page.title}
                  </Link>
                </li>
              ))}
            </ul>
          </div>
        ))}
      </nav>
      <main id="main" tabIndex={-1}>
        <ErrorBanner error={error} />
        {current && Page ? (
          <>
            <p class="crumbs">
              Admin › {current.page.section} › {current.page.title}
            </p>
            <h1 ref={headingRef} tabIndex={-1}>
              {current.page.title}
            </h1>
            <Page params={current.params} />
          </>
        ) : location.path === '/' && !home ? (
          <>
            <h1 ref={headingRef} tabIndex={-1}>
              Welcome
            </h1>
            <p>Your role ({me?.role.name}) has no admin pages. Ask an administrator for access.</p>
          </>
        ) : location.path === '/' ? null : (
          <>
            <h1 ref={headingRef} tabIndex={-1}>
              Not found
            </h1>
            <p>There is no page here, or your role may not see it.</p>
          </>
        )}
      </main>
    </div>
  );
}
