/**
 * The page registry. Every file in ./pages/ exports `page: PageDefinition`; this module finds
 * them all (Vite's import.meta.glob), so adding a page means adding one file, nothing else:
 *
 *   export const page: PageDefinition = {
 *     path: '/roles',                 // below /admin; `:name` segments become params
 *     title: 'Roles',                 // <h1>, the document title, and the navigation link
 *     section: 'People',              // navigation group (Admin › People › Roles)
 *     order: 30,                      // position in the navigation; sections sort by their first page
 *     anyOf: ['roles.manage'],        // shown to users holding at least one of these ([] = anyone)
 *     component: RolesPage,           // receives {params}
 *   };
 *
 * Pages with `nav: false` (a detail page such as `/workflows/:id`) are routed but not listed;
 * `adminOnly: true` pages (signing keys) show only to admins (GET /me's `admin`: every grant).
 */
import type { ComponentType } from 'preact';
import type { Grant, Me } from './api/client';

export interface PageProps {
  params: Record<string, string>;
}

export interface PageDefinition {
  path: string;
  title: string;
  section: string;
  order: number;
  anyOf: Grant[];
  component: ComponentType<PageProps>;
  /** false: routed, not in the navigation. Default true. */
  nav?: boolean;
  /** true: only for admins (`admin` in GET /me), whatever `anyOf` says. */
  adminOnly?: boolean;
}

/** May this user open the page? (The server decides again on every call.) */
export function pageAllowed(page: PageDefinition, me: Me | undefined): boolean {
  if (!me) return false;
  if (page.adminOnly && !me.admin) return false;
  return page.anyOf.length === 0 || page.anyOf.some((grant) => me.grants.includes(grant));
}

const modules = import.meta.glob<{ page: PageDefinition }>('./pages/*.tsx', { eager: true });

export const PAGES: readonly PageDefinition[] = Object.entries(modules)
  .map(([file, module]) => {
    if (!module.page) throw new Error(`${file} does not export \`page\``);
    return module.page;
  })
  .sort((a, b) => a.order - b.order || a.title.localeCompare(b.title));

export interface NavSection {
  section: string;
  pages: PageDefinition[];
}

/** The navigation for a set of visible pages: sections in the order of their first page. */
export function navSections(pages: readonly PageDefinition[]): NavSection[] {
  const sections = new Map<string, PageDefinition[]>();
  for (const page of pages) {
    if (page.nav === false) continue;
    const list = sections.get(page.section) ?? [];
    list.push(page);
    sections.set(page.section, list);
  }
  return [...sections].map(([section, list]) => ({ section, pages: list }));
}
