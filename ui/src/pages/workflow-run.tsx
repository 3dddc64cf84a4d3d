/**
 * One workflow run (/workflows/runs/:id): its status, input, variables, outputs and error, and
 * the step logs. While the run is queued or in progress the page reads it again every second
 * (and says so, with the time of the last reading and a Refresh button), and stops once it has
 * ended. Cancel asks first.
 */
import { useCallback, useEffect, useState } from 'preact/hooks';
import { api, unwrap } from '../api/client';
import { ConfirmDialog } from '../components/ConfirmDialog';
import { ErrorBanner } from '../components/ErrorBanner';
import { Time } from '../components/Time';
import { ENDED, RunStatus, type StepLog, type WorkflowRun } from '../components/workflow-api';
import '../components/page-parts.css';
import type { PageDefinition, PageProps } from '../pages';
import { Link } from '../router';

const POLL_MS = 1000;

function Json({ value }: { value: unknown }) {
  return <code class="pre-json">{JSON.stringify(value, null, 2)}</code>;
}

function WorkflowRunPage({ params }: PageProps) {
  const id = params.id ?? '';
  const [run, setRun] = useState<WorkflowRun>();
  const [logs, setLogs] = useState<StepLog[]>([]);
  const [error, setError] = useState<unknown>();
  const [readAt, setReadAt] = useState<Date>();
  const [canceling, setCanceling] = useState(false);

  const read = useCallback(async () => {
    try {
      const path = { instanceId: id };
      const [current, lines] = await Promise.all([
        unwrap(api.GET('/v1/workflows/instances/{instanceId}', { params: { path } })),
        unwrap(
          api.GET('/v1/workflows/instances/{instanceId}/logs', { params: { path, query: { limit: 500 } } }),
        ),
      ]);
      setRun(current);
      setLogs(lines);
      setError(undefined);
      setReadAt(new Date());
    } catch (e) {
      setError(e);
    }
  }, [id]);

  useEffect(() => {
    setRun(undefined);
    setLogs([]);
    void read();
  }, [read]);

  const going = run !== undefined && !ENDED.has(run.status);
  useEffect(() => {
    if (!going) return;
    const timer = setTimeout(() => void read(), POLL_MS);
    return () => clearTimeout(timer);
  }, [going, readAt, read]);

  return (
    <>
      {run ? (
        <p>
          <Link to={`/workflows/${encodeURIComponent(run.modelId)}`}>Workflow {run.modelName}</Link>
        </p>
      ) : null}
      <ErrorBanner error={error} />
      {run ? (
        <>
          <div class="page-actions">
            <p class="grow muted" aria-live="polite">
              {going
                ? `Refreshing every second while the run is going; last read ${readAt?.toLocaleTimeString() ?? ''}.`
                : `The run has ended (${run.status}).`}
            </p>
            <button type="button" onClick={() => void read()}>
              Refresh
            </button>
            {going ? (
              <button type="button" class="danger" onClick={() => setCanceling(true)}>
                Cancel run
              </button>
            ) : null}
          </div>
          <dl class="facts">
            <dt>Status</dt>
            <dd>
              <RunStatus value={run.status} />
            </dd>
            <dt>Run</dt>
            <dd>
              <code>{run.id}</code>
            </dd>
            <dt>Version</dt>
            <dd>{run.version}</dd>
            <dt>Started</dt>
            <dd>
              <Time value={run.startedOn ?? run.createdOn} />
            </dd>
            <dt>Ended</dt>
            <dd>
              <Time value={run.endedOn} />
            </dd>
            <dt>Steps completed</dt>
            <dd>{run.stepsCompleted}</dd>
            {run.error ? (
              <>
                <dt>Error</dt>
                <dd class="danger-text">{run.error}</dd>
              </>
            ) : null}
            <dt>Input</dt>
            <dd>
              <Json value={run.input} />
            </dd>
            <dt>Variables</dt>
            <dd>
              <Json value={run.variables} />
            </dd>
          </dl>
          <section aria-labelledby="logs-heading">
            <h2 id="logs-heading">Step logs</h2>
            {/* biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling region must be reachable by keyboard. */}
            <section class="table-scroll" tabIndex={0} aria-label="Step logs">
              <table>
                <caption class="visually-hidden">Step logs</caption>
                <thead>
                  <tr>
                    <th scope="col">#</th>
                    <th scope="col">Step</th>
                    <th scope="col">Type</th>
                    <th scope="col">Result</th>
                    <th scope="col">Took</th>
                    <th scope="col">Message or output</th>
                  </tr>
                </thead>
                <tbody>
                  {logs.map((line) => (
                    <tr key={line.seq}>
                      <td data-label="#">{line.seq}</td>
                      <td data-label="Step">
                        <code>{line.stepId}</code>
                      </td>
                      <td data-label="Type">{line.type}</td>
                      <td data-label="Result">
                        <span class={`badge badge-${line.status === 'ok' ? 'active' : 'failed'}`}>
                          {line.status}
                        </span>
                      </td>
                      <td data-label="Took" class="nowrap">
                        {line.durationMs} ms
                      </td>
                      <td data-label="Message or output">
                        {line.error ? <span class="danger-text">{line.error}</span> : null}
                        {line.message ??
                          (line.output === undefined || line.output === null ? (
                            ''
                          ) : (
                            <Json value={line.output} />
                          ))}
                      </td>
                    </tr>
                  ))}
                  {logs.length === 0 ? (
                    <tr>
                      <td colSpan={6} class="empty">
                        {going ? 'No step has finished yet.' : 'No steps ran.'}
                      </td>
                    </tr>
                  ) : null}
                </tbody>
              </table>
            </section>
          </section>
        </>
      ) : error ? null : (
        <p class="muted">Loading…</p>
      )}
      {canceling && run ? (
        <ConfirmDialog
          title="Cancel this run?"
          confirmLabel="Cancel run"
          onClose={() => setCanceling(false)}
          onConfirm={async () => {
            const canceled = await unwrap(
              api.POST('/v1/workflows/instances/{instanceId}/cancel', {
                params: { path: { instanceId: run.id } },
              }),
            );
            setRun(canceled);
            setCanceling(false);
            await read();
          }}
        >
          <p>
            A queued run ends at once; a running one ends at its next step, and an HTTP call in flight is
            aborted. Steps already done are not undone.
          </p>
        </ConfirmDialog>
      ) : null}
    </>
  );
}

export const page: PageDefinition = {
  path: '/workflows/runs/:id',
  title: 'Workflow run',
  section: 'Automation',
  order: 52,
  anyOf: ['workflow.api'],
  nav: false,
  component: WorkflowRunPage,
};
