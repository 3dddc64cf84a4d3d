/** The router's pure parts (no DOM), tested in test/ui/paths.test.ts. */

/** `/workflows/:id` against `/workflows/42` → `{id: '42'}`; undefined when it does not match. */
export function matchPath(pattern: string, path: string): Record<string, string> | undefined {
  const want = pattern.split('/').filter(Boolean);
  const have = path.split('/').filter(Boolean);
  if (want.length !== have.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    const w = want[i]!;
    const h = have[i]!;
    if (!w.startsWith(':')) {
      if (w !== h) return undefined;
      continue;
    }
    try {
      params[w.slice(1)] = decodeURIComponent(h);
    } catch {
      return undefined; // a malformed escape (`%E0`): no page, rather than a crash
    }
  }
  return params;
}

/**
 * Where to go after signing in: an app path from `?next=`, or `/`. Anything that is not a plain
 * path below /admin (another origin, `//host`, a scheme) is ignored.
 */
export function safeNext(value: string | null): string {
  if (value === null || !/^\/[A-Za-z0-9/_\-.~%]*$/.test(value) || value.startsWith('//')) return '/';
  return value.startsWith('/sign-in') ? '/' : value;
}
