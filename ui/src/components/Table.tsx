/**
 * A list with server-side search and cursor paging: `load` asks the API for one page
 * (`limit`, `cursor`, and the search text), so a list of 10,000 rows costs one page.
 * "Previous" walks back through the cursors seen; changing the search starts over.
 * `reloadKey` reloads the current page (after a create or a revoke).
 */
import type { ComponentChildren } from 'preact';
import { useEffect, useId, useRef, useState } from 'preact/hooks';
import { ErrorBanner } from './ErrorBanner';

export interface Column<T> {
  header: string;
  cell: (row: T) => ComponentChildren;
  /** A narrow column that may wrap less (ids, dates). */
  className?: string;
}

export interface PageResult<T> {
  items: T[];
  nextCursor: string | null;
}

export interface TableProps<T> {
  caption: string;
  columns: Column<T>[];
  rowKey: (row: T) => string | number;
  load: (args: { limit: number; cursor?: string; search: string }) => Promise<PageResult<T>>;
  /** Label of the search box; no search box when absent. */
  searchLabel?: string;
  pageSize?: number;
  reloadKey?: unknown;
  empty?: ComponentChildren;
  /** Extra filters next to the search box; change `reloadKey`… or pass them through `filterKey`. */
  toolbar?: ComponentChildren;
  /** Changing this starts over from the first page (like a new search). */
  filterKey?: unknown;
}

const SEARCH_DELAY_MS = 250;

export function Table<T>({
  caption,
  columns,
  rowKey,
  load,
  searchLabel,
  pageSize = 25,
  reloadKey,
  empty = 'Nothing to show.',
  toolbar,
  filterKey,
}: TableProps<T>) {
  const [search, setSearch] = useState('');
  const [query, setQuery] = useState('');
  // cursors[i] is the cursor of page i (undefined for the first).
  const [cursors, setCursors] = useState<Array<string | undefined>>([undefined]);
  const [result, setResult] = useState<PageResult<T>>();
  const [error, setError] = useState<unknown>();
  const [loading, setLoading] = useState(true);
  const searchId = useId();
  const loadRef = useRef(load);
  loadRef.current = load;
  const pageIndex = cursors.length - 1;

  useEffect(() => {
    const timer = setTimeout(() => {
      setQuery(search.trim());
      setCursors([undefined]);
    }, SEARCH_DELAY_MS);
    return () => clearTimeout(timer);
  }, [search]);

  useEffect(() => {
    setCursors([undefined]);
  }, [filterKey]);

  useEffect(() => {
    let current = true;
    setLoading(true);
    loadRef
      .current({ limit: pageSize, cursor: cursors[pageIndex], search: query })
      .then((page) => {
        if (!current) return;
        setResult(page);
        setError(undefined);
      })
      .catch((e: unknown) => {
        if (current) setError(e);
      })
      .finally(() => {
        if (current) setLoading(false);
      });
    return () => {
      current = false;
    };
  }, [query, cursors, pageIndex, pageSize, reloadKey, filterKey]);

  const items = result?.items ?? [];
  return (
    <div class="table-block">
      {searchLabel || toolbar ? (
        <div class="toolbar">
          {searchLabel ? (
            <span class="search">
              <label for={searchId}>{searchLabel}</label>
              <input
                id={searchId}
                type="search"
                value={search}
                onInput={(e) => setSearch((e.target as HTMLInputElement).value)}
                autocomplete="off"
              />
            </span>
          ) : null}
          {toolbar}
        </div>
      ) : null}
      <ErrorBanner error={error} />
      {/* biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling region must be reachable by keyboard. */}
      <section class="table-scroll" tabIndex={0} aria-label={caption}>
        <table aria-busy={loading}>
          <caption class="visually-hidden">{caption}</caption>
          <thead>
            <tr>
              {columns.map((column) => (
                <th scope="col" key={column.header} class={column.className}>
                  {column.header}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {items.map((row) => (
              <tr key={rowKey(row)}>
                {columns.map((column) => (
                  <td key={column.header} class={column.className} data-label={column.header}>
                    {column.cell(row)}
                  </td>
                ))}
              </tr>
            ))}
            {!loading && items.length === 0 ? (
              <tr>
                <td colSpan={columns.length} class="empty">
                  {query ? `Nothing matches “${query}”.` : empty}
                </td>
              </tr>
            ) : null}
          </tbody>
        </table>
      </section>
      <nav class="pager" aria-label={`${caption} pages`}>
        <button
          type="button"
          disabled={pageIndex === 0 || loading}
          onClick={() => setCursors(cursors.slice(0, -1))}
        >
          Previous
        </button>
        <span aria-live="polite">{loading ? 'Loading…' : `Page ${pageIndex + 1}`}</span>
        <button
          type="button"
          disabled={!result?.nextCursor || loading}
          onClick={() => result?.nextCursor && setCursors([...cursors, result.nextCursor])}
        >
          Next
        </button>
      </nav>
    </div>
  );
}
