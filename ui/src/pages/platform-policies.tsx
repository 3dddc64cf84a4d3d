/**
 * Admin › API platform › Policies (issue 14): the limits an access profile's calls run under —
 * a rate limit (per second or minute), a quota (per UTC day or month) and a concurrency limit
 * with a short queue, each optional. Create, Edit and Delete (a policy in use is refused with the
 * profiles named); profiles choose theirs on the Access profiles page.
 */
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { api, unwrap } from '../api/client';
import { ConfirmDialog } from '../components/ConfirmDialog';
import { Dialog } from '../components/Dialog';
import { ErrorBanner } from '../components/ErrorBanner';
import { type FormErrors, formErrors } from '../components/field-errors';
import { Menu } from '../components/Menu';
import { CheckField, FormActions, type Policy, useSubmit } from '../components/platform';
import { Table } from '../components/Table';
import { SelectField, TextField } from '../components/TextField';
import { Time } from '../components/Time';
import { useChanges } from '../components/use-changes';
import '../components/page-parts.css';
import type { PageDefinition } from '../pages';

const POLICY_FIELDS = [
  'name',
  'description',
  'rateLimit',
  'rateLimit.limit',
  'rateLimit.per',
  'quota',
  'quota.limit',
  'quota.per',
  'concurrency',
  'concurrency.limit',
  'concurrency.queueSize',
  'concurrency.maxWaitMs',
] as const;

/** The text of a number box as a number; an empty box is NaN, which JSON sends as null and the server names. */
const numberOf = (text: string) => (text.trim() === '' ? Number.NaN : Number(text));

export function rateText(policy: Pick<Policy, 'rateLimit'>): string {
  return policy.rateLimit ? `${policy.rateLimit.limit.toLocaleString()} / ${policy.rateLimit.per}` : 'none';
}
export function quotaText(policy: Pick<Policy, 'quota'>): string {
  return policy.quota ? `${policy.quota.limit.toLocaleString()} / ${policy.quota.per}` : 'none';
}
export function concurrencyText(policy: Pick<Policy, 'concurrency'>): string {
  const c = policy.concurrency;
  if (!c) return 'none';
  const queue = c.queueSize > 0 ? `, ${c.queueSize} may wait up to ${c.maxWaitMs.toLocaleString()} ms` : '';
  return `${c.limit.toLocaleString()} at once${queue}`;
}

/** A limit's fieldset: a check-box turns it on; its fields show only then. */
function LimitSet({
  legend,
  on,
  setOn,
  hint,
  error,
  children,
}: {
  legend: string;
  on: boolean;
  setOn: (on: boolean) => void;
  hint: string;
  error?: string;
  children: ComponentChildren;
}) {
  return (
    <fieldset>
      <legend>{legend}</legend>
      <CheckField
        label={`Limit ${legend.toLowerCase()}`}
        checked={on}
        onChange={setOn}
        hint={hint}
        error={error}
      />
      {on ? <div class="filters">{children}</div> : null}
    </fieldset>
  );
}

function PolicyDialog({
  policy,
  onClose,
  onSaved,
}: {
  policy?: Policy;
  onClose: () => void;
  onSaved: (saved: Policy) => void;
}) {
  const [name, setName] = useState(policy?.name ?? '');
  const [description, setDescription] = useState(policy?.description ?? '');
  const [rateOn, setRateOn] = useState(policy ? policy.rateLimit !== null : true);
  const [rate, setRate] = useState(String(policy?.rateLimit?.limit ?? 10));
  const [ratePer, setRatePer] = useState<string>(policy?.rateLimit?.per ?? 'second');
  const [quotaOn, setQuotaOn] = useState(policy ? policy.quota !== null : false);
  const [quota, setQuota] = useState(String(policy?.quota?.limit ?? 100_000));
  const [quotaPer, setQuotaPer] = useState<string>(policy?.quota?.per ?? 'month');
  const [concurrencyOn, setConcurrencyOn] = useState(policy ? policy.concurrency !== null : false);
  const [concurrency, setConcurrency] = useState(String(policy?.concurrency?.limit ?? 5));
  const [queueSize, setQueueSize] = useState(String(policy?.concurrency?.queueSize ?? 0));
  const [maxWait, setMaxWait] = useState(String(policy?.concurrency?.maxWaitMs ?? 0));
  const { busy, error, formRef, onSubmit } = useSubmit(async () => {
    const body = {
      name,
      description,
      rateLimit: rateOn ? { limit: numberOf(rate), per: ratePer } : null,
      quota: quotaOn ? { limit: numberOf(quota), per: quotaPer } : null,
      concurrency: concurrencyOn
        ? { limit: numberOf(concurrency), queueSize: numberOf(queueSize), maxWaitMs: numberOf(maxWait) }
        : null,
    };
    const saved = policy
      ? await unwrap(
          api.PATCH('/api/admin/v1/platform/policies/{id}', {
            params: { path: { id: String(policy.id) } },
            body,
          }),
        )
      : await unwrap(api.POST('/api/admin/v1/platform/policies', { body }));
    onSaved(saved);
  });
  const errors: FormErrors = formErrors(error, POLICY_FIELDS);
  return (
    <Dialog
      title={policy ? `Edit the policy “${policy.name}”` : 'Create policy'}
      onClose={onClose}
      wide
      description="Limits for the calls of the access profiles that use it, counted over every node. Over a limit a call gets 429 with Retry-After."
    >
      <form ref={formRef} onSubmit={onSubmit} noValidate>
        <ErrorBanner error={errors.banner} />
        <TextField label="Name" value={name} onInput={setName} required autoFocus error={errors.of('name')} />
        <TextField
          label="Description"
          value={description}
          onInput={setDescription}
          rows={2}
          error={errors.of('description')}
        />
        <LimitSet
          legend="Rate"
          on={rateOn}
          setOn={setRateOn}
          hint="Calls per second or minute; windows start on whole seconds or minutes."
          error={errors.of('rateLimit')}
        >
          <TextField
            label="Calls"
            type="number"
            value={rate}
            onInput={setRate}
            error={errors.of('rateLimit.limit')}
          />
          <SelectField
            label="Per"
            value={ratePer}
            options={['second', 'minute']}
            onChange={setRatePer}
            error={errors.of('rateLimit.per')}
          />
        </LimitSet>
        <LimitSet
          legend="Quota"
          on={quotaOn}
          setOn={setQuotaOn}
          hint="Calls per calendar day or month (UTC)."
          error={errors.of('quota')}
        >
          <TextField
            label="Calls in the quota"
            type="number"
            value={quota}
            onInput={setQuota}
            error={errors.of('quota.limit')}
          />
          <SelectField
            label="Per (UTC)"
            value={quotaPer}
            options={['day', 'month']}
            onChange={setQuotaPer}
            error={errors.of('quota.per')}
          />
        </LimitSet>
        <LimitSet
          legend="Concurrency"
          on={concurrencyOn}
          setOn={setConcurrencyOn}
          hint="Calls in flight at once; a few more may wait in a short queue."
          error={errors.of('concurrency')}
        >
          <TextField
            label="At once"
            type="number"
            value={concurrency}
            onInput={setConcurrency}
            error={errors.of('concurrency.limit')}
          />
          <TextField
            label="Queue size"
            type="number"
            value={queueSize}
            onInput={setQueueSize}
            hint="0: no queue."
            error={errors.of('concurrency.queueSize')}
          />
          <TextField
            label="Longest wait (ms)"
            type="number"
            value={maxWait}
            onInput={setMaxWait}
            hint="How long a queued call waits for a slot (up to 30000)."
            error={errors.of('concurrency.maxWaitMs')}
          />
        </LimitSet>
        <FormActions busy={busy} submit={policy ? 'Save' : 'Create'} onCancel={onClose} />
      </form>
    </Dialog>
  );
}

type Open = { kind: 'create' } | { kind: 'edit'; policy: Policy } | { kind: 'delete'; policy: Policy };

function PoliciesPage() {
  const { open, setOpen, reloadKey, notice, changed } = useChanges<Open>();
  return (
    <>
      <div class="page-actions">
        <p class="grow muted">
          A policy limits the calls of the access profiles that use it: rate, quota and calls at once.
        </p>
        <button type="button" class="primary" onClick={() => setOpen({ kind: 'create' })}>
          Create policy
        </button>
      </div>
      <output class="muted notice">{notice}</output>
      <Table<Policy>
        caption="Policies"
        rowKey={(p) => p.id}
        reloadKey={reloadKey}
        empty="No policies yet: access profiles call without limits."
        load={({ limit, cursor }) =>
          unwrap(api.GET('/api/admin/v1/platform/policies', { params: { query: { limit, cursor } } }))
        }
        columns={[
          { header: 'Name', cell: (p) => <strong id={`policy-${p.id}-name`}>{p.name}</strong> },
          { header: 'Description', cell: (p) => p.description || <span class="muted">—</span> },
          { header: 'Rate limit', className: 'nowrap', cell: rateText },
          { header: 'Quota', className: 'nowrap', cell: quotaText },
          { header: 'Concurrency', cell: concurrencyText },
          { header: 'Profiles', className: 'nowrap numeric', cell: (p) => String(p.profileCount) },
          { header: 'Updated', className: 'nowrap', cell: (p) => <Time value={p.updatedAt} /> },
          {
            header: 'Actions',
            cell: (p) => (
              <Menu
                label="More"
                describedBy={`policy-${p.id}-name`}
                items={[
                  { label: 'Edit', onSelect: () => setOpen({ kind: 'edit', policy: p }) },
                  { label: 'Delete', danger: true, onSelect: () => setOpen({ kind: 'delete', policy: p }) },
                ]}
              />
            ),
          },
        ]}
      />
      {open?.kind === 'create' || open?.kind === 'edit' ? (
        <PolicyDialog
          policy={open.kind === 'edit' ? open.policy : undefined}
          onClose={() => setOpen(undefined)}
          onSaved={(saved) => changed(`${saved.name} was ${open.kind === 'edit' ? 'saved' : 'created'}.`)}
        />
      ) : null}
      {open?.kind === 'delete' ? (
        <ConfirmDialog
          title={`Delete the policy “${open.policy.name}”?`}
          confirmLabel="Delete"
          onClose={() => setOpen(undefined)}
          onConfirm={async () => {
            await unwrap(
              api.DELETE('/api/admin/v1/platform/policies/{id}', {
                params: { path: { id: String(open.policy.id) } },
              }),
            );
            changed(`${open.policy.name} was deleted.`);
          }}
        >
          <p>
            {open.policy.profileCount > 0
              ? `${open.policy.profileCount} access profile${open.policy.profileCount === 1 ? ' uses' : 's use'} it: give ${open.policy.profileCount === 1 ? 'it' : 'them'} another policy (or none) first.`
              : 'No access profile uses it.'}
          </p>
        </ConfirmDialog>
      ) : null}
    </>
  );
}

export const page: PageDefinition = {
  path: '/platform/policies',
  title: 'Policies',
  section: 'API platform',
  order: 57,
  anyOf: ['gateway.manage'],
  component: PoliciesPage,
};
