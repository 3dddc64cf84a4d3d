/**
 * What the Workflows pages share: the types of the Workflows API (/v1/workflows…, reached with
 * the session cookie and the CSRF header like the admin API), and turning a failed save or run
 * into an error shown at the line of the JSON editor that the server's `details.path` names.
 */
import { type Answer, ApiError } from '../api/client';
import type { JsonError } from './JsonEditor';
import { lineOfPath, lineOfSyntaxError } from './json-locate';

export type Workflow = Answer<'/v1/workflows/{id}', 'get'>;
export type WorkflowRun = Answer<'/v1/workflows/instances/{instanceId}', 'get'>;
export type StepLog = Answer<'/v1/workflows/instances/{instanceId}/logs', 'get'>[number];

/** Statuses after which a run no longer changes. */
export const ENDED: ReadonlySet<string> = new Set(['COMPLETED', 'FAILED', 'CANCELED']);

/** The editor's text as JSON, or a JsonError at the line of the syntax error. */
export function parseJson(text: string): { value: unknown } | { error: JsonError } {
  try {
    return { value: JSON.parse(text) as unknown };
  } catch (cause) {
    return {
      error: {
        message: `This is not valid JSON (${cause instanceof Error ? cause.message : 'unreadable'}).`,
        line: lineOfSyntaxError(text, cause),
      },
    };
  }
}

/**
 * A 400 whose `details.path` starts with `root` (`definition…`, `input…`): the error for the editor
 * holding that document, at the path's line. Anything else: undefined (show it as a banner).
 */
export function editorError(error: unknown, root: string, text: string): JsonError | undefined {
  if (!(error instanceof ApiError) || error.status !== 400) return undefined;
  const path = (error.details as { path?: unknown } | undefined)?.path;
  if (
    typeof path !== 'string' ||
    (path !== root && !path.startsWith(`${root}.`) && !path.startsWith(`${root}[`))
  )
    return undefined;
  return { message: error.message, path, line: lineOfPath(text, path) };
}

/** A run's status as the API spells it (`COMPLETED`), as a badge. */
export function RunStatus({ value }: { value: string }) {
  return <span class={`badge badge-${value.toLowerCase()} run-status`}>{value}</span>;
}
