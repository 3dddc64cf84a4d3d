/**
 * One workflow (/workflows/:id; `new` creates one): name, description and the definition in the
 * JSON editor, saved as a new version, with the server's validation error shown at the line of
 * the path it names; a run with an input (its error at the input's path too); and the runs, newest
 * first, each linking to its status and step logs.
 */
import { useEffect, useState } from 'preact/hooks';
import { api, unwrap } from '../api/client';
import { ErrorBanner } from '../components/ErrorBanner';
import { TextField } from '../components/TextField';
import { JsonEditor, type JsonError } from '../components/JsonEditor';
import { Table } from '../components/Table';
import { Time } from '../components/Time';
import {
  editorError,
  parseJson,
  RunStatus,
  type Workflow,
  type WorkflowRun,
} from '../components/workflow-api';
import '../components/page-parts.css';
import type { PageDefinition, PageProps } from '../pages';
import { Link, navigate } from '../router';

const EXAMPLE = `{
  "input": { "type": "object", "properties": { "n": { "type": "integer" } } },
  "steps": [
    { "id": "double", "type": "set", "values": { "doubled": "input.n * 2" } },
    { "id": "say", "type": "log", "message": "doubled to {{vars.doubled}}" }
  ]
}`;

/** The editing form; `workflow` undefined: a new one. */
function DefinitionForm({ workflow, onSaved }: { workflow?: Workflow; onSaved: (saved: Workflow) => void }) {
  const [name, setName] = useState(workflow?.name ?? '');
  const [description, setDescription] = useState(workflow?.description ?? '');
  const [text, setText] = useState(workflow ? JSON.stringify(workflow.definition, null, 2) : EXAMPLE);
  const [jsonError, setJsonError] = useState<JsonError>();
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const [notice, setNotice] = useState('');

  const save = async (event: Event) => {
    event.preventDefault();
    setError(undefined);
    setJsonError(undefined);
    setNotice('');
    const parsed = parseJson(text);
    if ('error' in parsed) {
      setJsonError(parsed.error);
      return;
    }
    const definition = parsed.value as Record<string, never>;
    setBusy(true);
    try {
      const saved = workflow
        ? await unwrap(
            api.PUT('/v1/workflows/{id}', {
              params: { path: { id: workflow.id } },
              body: { name: name.trim(), description, definition },
            }),
          )
        : await unwrap(api.POST('/v1/workflows', { body: { name: name.trim(), description, definition } }));
      setNotice(workflow ? `Saved as version ${saved.version}.` : 'Created.');
      onSaved(saved);
    } catch (e) {
      const at = editorError(e, 'definition', text);
      if (at) setJsonError(at);
      else setError(e);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="panel" onSubmit={save} aria-labelledby="definition-heading">
      <h2 id="definition-heading">{workflow ? 'Definition' : 'New workflow'}</h2>
      <ErrorBanner error={error} />
      <TextField label="Name" value={name} onInput={setName} required />
      <TextField label="Description" value={description} onInput={setDescription} />
      <JsonEditor
        label="Definition (JSON)"
        hint="An optional JSON Schema as input, and steps: http, delay, set, if, log, fail. Expressions are JSONata."
        value={text}
        onInput={setText}
        error={jsonError}
        rows={16}
      />
      <div class="actions">
        <output class="muted">{notice}</output>
        <button type="submit" class="primary" disabled={busy}>
          {workflow ? 'Save new version' : 'Create workflow'}
        </button>
      </div>
    </form>
  );
}

function RunForm({ workflow }: { workflow: Workflow }) {
  const [text, setText] = useState('{}');
  const [jsonError, setJsonError] = useState<JsonError>();
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const run = async (event: Event) => {
    event.preventDefault();
    setError(undefined);
    setJsonError(undefined);
    const parsed = parseJson(text);
    if ('error' in parsed) {
      setJsonError(parsed.error);
      return;
    }
    setBusy(true);
    try {
      const started = await unwrap(
        api.POST('/v1/workflows/{id}/execute', {
          params: { path: { id: workflow.id } },
          body: { input: parsed.value },
        }),
      );
      navigate(`/workflows/runs/${encodeURIComponent(started.id)}`);
    } catch (e) {
      const at = editorError(e, 'input', text);
      if (at) setJsonError(at);
      else setError(e);
      setBusy(false);
    }
  };
  return (
    <form class="panel" onSubmit={run} aria-labelledby="run-heading">
      <h2 id="run-heading">Run</h2>
      <ErrorBanner error={error} />
      <JsonEditor label="Input (JSON)" value={text} onInput={setText} error={jsonError} rows={4} />
      <div class="actions">
        <button type="submit" class="primary" disabled={busy}>
          Run
        </button>
      </div>
    </form>
  );
}

function Runs({ workflow, reloadKey }: { workflow: Workflow; reloadKey: unknown }) {
  return (
    <section aria-labelledby="runs-heading">
      <h2 id="runs-heading">Runs</h2>
      <Table<WorkflowRun>
        caption={`Runs of ${workflow.name}`}
        rowKey={(run) => run.id}
        reloadKey={reloadKey}
        pageSize={20}
        empty="No runs yet."
        load={async ({ limit, cursor }) => {
          const result = await api.GET('/v1/workflows/{id}/instances', {
            params: { path: { id: workflow.id }, query: { limit, ...(cursor ? { cursor } : {}) } },
          });
          const link = result.response.headers.get('link');
          const items = await unwrap(Promise.resolve(result));
          const next = link ? /[?&]cursor=([^&>]+)/.exec(link)?.[1] : undefined;
          return { items, nextCursor: next ? decodeURIComponent(next) : null };
        }}
        columns={[
          {
            header: 'Run',
            cell: (run) => (
              <Link to={`/workflows/runs/${encodeURIComponent(run.id)}`}>
                <code>{run.id.slice(0, 8)}</code>
              </Link>
            ),
          },
          { header: 'Status', cell: (run) => <RunStatus value={run.status} /> },
          { header: 'Version', cell: (run) => String(run.version), className: 'nowrap' },
          { header: 'Started', cell: (run) => <Time value={run.createdOn} />, className: 'nowrap' },
          { header: 'Ended', cell: (run) => <Time value={run.endedOn} />, className: 'nowrap' },
        ]}
      />
    </section>
  );
}

function WorkflowPage({ params }: PageProps) {
  const id = params.id ?? '';
  const [workflow, setWorkflow] = useState<Workflow>();
  const [error, setError] = useState<unknown>();

  useEffect(() => {
    setWorkflow(undefined);
    setError(undefined);
    if (id === 'new') return;
    unwrap(api.GET('/v1/workflows/{id}', { params: { path: { id } } }))
      .then(setWorkflow)
      .catch(setError);
  }, [id]);

  if (id === 'new') {
    return (
      <>
        <p>
          <Link to="/workflows">All workflows</Link>
        </p>
        <DefinitionForm
          onSaved={(created) => navigate(`/workflows/${encodeURIComponent(created.id)}`, { replace: true })}
        />
      </>
    );
  }
  return (
    <>
      <p>
        <Link to="/workflows">All workflows</Link>
      </p>
      <ErrorBanner error={error} />
      {workflow ? (
        <>
          <dl class="facts">
            <dt>Name</dt>
            <dd>{workflow.name}</dd>
            <dt>Version</dt>
            <dd>{workflow.version}</dd>
            <dt>Updated</dt>
            <dd>
              <Time value={workflow.updatedOn} />
            </dd>
            <dt>ID</dt>
            <dd>
              <code>{workflow.id}</code>
            </dd>
          </dl>
          <RunForm workflow={workflow} />
          <DefinitionForm key={workflow.id} workflow={workflow} onSaved={setWorkflow} />
          <Runs workflow={workflow} reloadKey={workflow.version} />
        </>
      ) : error ? null : (
        <p class="muted">Loading…</p>
      )}
    </>
  );
}

export const page: PageDefinition = {
  path: '/workflows/:id',
  title: 'Workflow',
  section: 'Automation',
  order: 51,
  anyOf: ['workflow.api'],
  nav: false,
  component: WorkflowPage,
};
