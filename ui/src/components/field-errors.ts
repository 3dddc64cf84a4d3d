/**
 * Puts an API error next to the form field it names. Error bodies name the field in
 * `details.field` (the services' checks, e.g. `prefix`, `jwt.issuer`; schema validation, e.g.
 * `upstreamUrl`, `collections.0`): the form field whose name is that field, or its longest
 * prefix (`jwt.jwksUrl` → `jwt.jwksUrl`, `collections.0` → `collections`), shows the message;
 * an error naming none of the form's fields stays in the form's banner.
 */
import { useEffect } from 'preact/hooks';
import { ApiError } from '../api/client';

export interface FormErrors {
  /** The message for this form field, or undefined. */
  of(field: string): string | undefined;
  /** What the banner above the form shows: the error when no field of the form took it. */
  banner: unknown;
}

export function formErrors(error: unknown, fields: readonly string[]): FormErrors {
  const named =
    error instanceof ApiError ? (error.details as { field?: unknown } | null | undefined)?.field : undefined;
  let owner: string | undefined;
  if (typeof named === 'string') {
    for (const field of fields) {
      const matches = named === field || named.startsWith(`${field}.`);
      if (matches && (owner === undefined || field.length > owner.length)) owner = field;
    }
  }
  const message = error instanceof ApiError ? error.message : undefined;
  return {
    of: (field) => (owner === field ? message : undefined),
    banner: owner === undefined ? error : undefined,
  };
}

/** After a refused submit, focus the field the error names (its input carries aria-invalid). */
export function useFocusInvalid(form: { current: HTMLElement | null }, error: unknown): void {
  useEffect(() => {
    if (error === undefined) return;
    form.current?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus();
  }, [error]);
}
