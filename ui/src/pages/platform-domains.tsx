/**
 * Admin › API platform › Custom domains (issue 14): host names the instance answers for, each
 * with its token issuer (the instance's scheme and the host) and, optionally, its own TLS certificate served by
 * SNI. Register (host name, optional PEM certificate and key), and per row Replace certificate,
 * Remove certificate, Disable / Enable and Delete. The private key goes in and is never shown.
 */
import { useState } from 'preact/hooks';
import { type Answer, api, unwrap } from '../api/client';
import { ConfirmDialog } from '../components/ConfirmDialog';
import { Dialog } from '../components/Dialog';
import { ErrorBanner } from '../components/ErrorBanner';
import { formErrors } from '../components/field-errors';
import { Menu } from '../components/Menu';
import {
  CheckField,
  EnabledBadge,
  FormActions,
  switchItem,
  useRowChange,
  useSubmit,
} from '../components/platform';
import { Table } from '../components/Table';
import { TextField } from '../components/TextField';
import { Time } from '../components/Time';
import { useChanges } from '../components/use-changes';
import '../components/page-parts.css';
import type { PageDefinition } from '../pages';

type Domain = Answer<'/api/admin/v1/platform/domains/{id}', 'get'>;

const DOMAIN_FIELDS = ['hostname', 'certificate', 'privateKey', 'enabled'] as const;
const CERTIFICATE_HINT =
  'PEM, the server certificate first, then its chain. It must name the host and not be expired.';
const KEY_HINT = 'PEM, unencrypted. Stored encrypted; Gatehouse never shows it again.';

/** Register a domain (no `domain`) or give an existing one a new certificate and key. */
function DomainDialog({
  domain,
  onClose,
  onSaved,
}: {
  domain?: Domain;
  onClose: () => void;
  onSaved: (saved: Domain) => void;
}) {
  const [hostname, setHostname] = useState('');
  const [certificate, setCertificate] = useState('');
  const [privateKey, setPrivateKey] = useState('');
  const [enabled, setEnabled] = useState(true);
  const { busy, error, formRef, onSubmit } = useSubmit(async () => {
    const pem = {
      ...(certificate.trim() ? { certificate } : {}),
      ...(privateKey.trim() ? { privateKey } : {}),
    };
    const saved = domain
      ? await unwrap(
          api.PATCH('/api/admin/v1/platform/domains/{id}', {
            params: { path: { id: String(domain.id) } },
            // Both are needed; an empty one is sent as missing, and the server says which.
            body: {
              certificate: certificate.trim() ? certificate : undefined,
              privateKey: privateKey.trim() ? privateKey : undefined,
            },
          }),
        )
      : await unwrap(api.POST('/api/admin/v1/platform/domains', { body: { hostname, enabled, ...pem } }));
    onSaved(saved);
  });
  const errors = formErrors(error, DOMAIN_FIELDS);
  return (
    <Dialog
      title={domain ? `Replace the certificate of ${domain.hostname}` : 'Register custom domain'}
      onClose={onClose}
      wide
      description={
        domain
          ? undefined
          : 'Programs may call Gatehouse at this host name: tokens asked for there carry it as their issuer. Point its DNS at Gatehouse yourself.'
      }
    >
      <form ref={formRef} onSubmit={onSubmit} noValidate>
        <ErrorBanner error={errors.banner} />
        {domain ? null : (
          <TextField
            label="Host name"
            value={hostname}
            onInput={setHostname}
            required
            autoFocus
            mono
            placeholder="api.example.com"
            error={errors.of('hostname')}
          />
        )}
        <TextField
          label={domain ? 'Certificate' : 'Certificate (optional)'}
          value={certificate}
          onInput={setCertificate}
          rows={5}
          mono
          autoFocus={!!domain}
          placeholder="-----BEGIN CERTIFICATE-----"
          hint={
            domain
              ? CERTIFICATE_HINT
              : `${CERTIFICATE_HINT} Without one, HTTPS clients naming this host get the instance's own certificate.`
          }
          error={errors.of('certificate')}
        />
        <TextField
          label={domain ? 'Private key' : 'Private key (optional)'}
          value={privateKey}
          onInput={setPrivateKey}
          rows={5}
          mono
          placeholder="-----BEGIN PRIVATE KEY-----"
          hint={KEY_HINT}
          error={errors.of('privateKey')}
        />
        {domain ? null : (
          <CheckField
            label="Enabled"
            checked={enabled}
            onChange={setEnabled}
            hint="A disabled domain gets the default issuer and certificate, and its tokens are refused."
            error={errors.of('enabled')}
          />
        )}
        <FormActions busy={busy} submit={domain ? 'Replace certificate' : 'Register'} onCancel={onClose} />
      </form>
    </Dialog>
  );
}

function CertificateCell({ domain }: { domain: Domain }) {
  const certificate = domain.certificate;
  if (!certificate) return <span class="muted">the instance's own</span>;
  return (
    <span>
      {certificate.subjectAltNames.join(', ') || certificate.subject}
      <br />
      <span class="muted">
        until <Time value={certificate.notAfter} dateOnly />
      </span>
    </span>
  );
}

type Open =
  | { kind: 'create' }
  | { kind: 'certificate'; domain: Domain }
  | { kind: 'remove-certificate'; domain: Domain }
  | { kind: 'delete'; domain: Domain };

function DomainsPage() {
  const { open, setOpen, reloadKey, notice, changed } = useChanges<Open>();

  const patch = async (domain: Domain, body: { enabled?: boolean; certificate?: null; privateKey?: null }) =>
    unwrap(
      api.PATCH('/api/admin/v1/platform/domains/{id}', {
        params: { path: { id: String(domain.id) } },
        body,
      }),
    );
  const { error, run } = useRowChange(changed);

  return (
    <>
      <ErrorBanner error={error} />
      <div class="page-actions">
        <p class="grow muted">
          Host names programs may call Gatehouse at, with the token issuer and TLS certificate of each.
        </p>
        <button type="button" class="primary" onClick={() => setOpen({ kind: 'create' })}>
          Register custom domain
        </button>
      </div>
      <output class="muted notice">{notice}</output>
      <Table<Domain>
        caption="Custom domains"
        rowKey={(d) => d.id}
        reloadKey={reloadKey}
        empty="No custom domains yet: Gatehouse answers at its own address only."
        load={({ limit, cursor }) =>
          unwrap(api.GET('/api/admin/v1/platform/domains', { params: { query: { limit, cursor } } }))
        }
        columns={[
          {
            header: 'Host name',
            cell: (d) => (
              <code id={`domain-${d.id}-name`} class="wrap-anywhere">
                {d.hostname}
              </code>
            ),
          },
          { header: 'Token issuer', cell: (d) => <code class="wrap-anywhere">{d.issuer}</code> },
          { header: 'Certificate', cell: (d) => <CertificateCell domain={d} /> },
          { header: 'Status', cell: (d) => <EnabledBadge enabled={d.enabled} /> },
          { header: 'Updated', className: 'nowrap', cell: (d) => <Time value={d.updatedAt} /> },
          {
            header: 'Actions',
            cell: (d) => (
              <Menu
                label="More"
                describedBy={`domain-${d.id}-name`}
                items={[
                  {
                    label: d.certificate ? 'Replace certificate' : 'Add certificate',
                    onSelect: () => setOpen({ kind: 'certificate', domain: d }),
                  },
                  ...(d.certificate
                    ? [
                        {
                          label: 'Remove certificate',
                          onSelect: () => setOpen({ kind: 'remove-certificate', domain: d }),
                        },
                      ]
                    : []),
                  switchItem(d.hostname, d.enabled, run, (enabled) => patch(d, { enabled })),
                  { label: 'Delete', danger: true, onSelect: () => setOpen({ kind: 'delete', domain: d }) },
                ]}
              />
            ),
          },
        ]}
      />
      {open?.kind === 'create' || open?.kind === 'certificate' ? (
        <DomainDialog
          domain={open.kind === 'certificate' ? open.domain : undefined}
          onClose={() => setOpen(undefined)}
          onSaved={(saved) =>
            changed(
              open.kind === 'create'
                ? `${saved.hostname} was registered.`
                : `${saved.hostname} has a new certificate.`,
            )
          }
        />
      ) : null}
      {open?.kind === 'remove-certificate' ? (
        <ConfirmDialog
          title={`Remove the certificate of ${open.domain.hostname}?`}
          confirmLabel="Remove certificate"
          onClose={() => setOpen(undefined)}
          onConfirm={async () => {
            await patch(open.domain, { certificate: null, privateKey: null });
            changed(`${open.domain.hostname} uses the instance's certificate.`);
          }}
        >
          <p>
            HTTPS clients naming {open.domain.hostname} get the instance's own certificate from the next
            connection; its key is deleted.
          </p>
        </ConfirmDialog>
      ) : null}
      {open?.kind === 'delete' ? (
        <ConfirmDialog
          title={`Delete the custom domain ${open.domain.hostname}?`}
          confirmLabel="Delete"
          onClose={() => setOpen(undefined)}
          onConfirm={async () => {
            await unwrap(
              api.DELETE('/api/admin/v1/platform/domains/{id}', {
                params: { path: { id: String(open.domain.id) } },
              }),
            );
            changed(`${open.domain.hostname} was deleted.`);
          }}
        >
          <p>
            <strong>This cannot be undone.</strong> Tokens issued at {open.domain.hostname} are refused from
            the next call, and its HTTPS clients get the instance's own certificate.
          </p>
        </ConfirmDialog>
      ) : null}
    </>
  );
}

export const page: PageDefinition = {
  path: '/platform/domains',
  title: 'Custom domains',
  section: 'API platform',
  order: 58,
  anyOf: ['gateway.manage'],
  component: DomainsPage,
};
