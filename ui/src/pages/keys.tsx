/**
 * Admin › Security › Signing keys: the keys that sign access tokens (GET /keys) and a rotation
 * with confirmation (POST /keys/rotate). Admins only (a role holding every grant), as the API.
 */
import { type Answer, api, unwrap } from '../api/client';
import { ConfirmDialog } from '../components/ConfirmDialog';
import { Table } from '../components/Table';
import { Status, Time } from '../components/Time';
import { useChanges } from '../components/use-changes';
import '../components/page-parts.css';
import type { PageDefinition } from '../pages';

type SigningKey = Answer<'/api/admin/v1/keys', 'get'>['items'][number];

function SigningKeysPage() {
  const { open: confirming, setOpen: setConfirming, reloadKey, notice, changed } = useChanges<true>();

  const rotate = async () => {
    const answer = await unwrap(api.POST('/api/admin/v1/keys/rotate'));
    changed(
      `New active key ${answer.key.kid} (${answer.key.alg}). Earlier keys stay published until their tokens expire.`,
    );
  };

  return (
    <>
      <p>
        Access tokens are signed with the active key. After a rotation, earlier keys stay in the public key
        set (<code>/.well-known/jwks.json</code>) until every token they signed has expired, then they are
        retired.
      </p>
      <div class="page-actions">
        <span class="grow" />
        <button type="button" class="primary" onClick={() => setConfirming(true)}>
          Rotate signing key
        </button>
      </div>
      <output class="muted notice">{notice}</output>
      <Table<SigningKey>
        caption="Signing keys"
        rowKey={(key) => key.kid}
        reloadKey={reloadKey}
        load={async () => ({ items: (await unwrap(api.GET('/api/admin/v1/keys'))).items, nextCursor: null })}
        columns={[
          { header: 'Key ID', cell: (key) => <code>{key.kid}</code>, className: 'kid' },
          { header: 'Algorithm', cell: (key) => key.alg, className: 'nowrap' },
          { header: 'Created', cell: (key) => <Time value={key.createdAt} />, className: 'nowrap' },
          { header: 'Status', cell: (key) => <Status value={key.status} /> },
          {
            header: 'Leaves the key set',
            cell: (key) => <Time value={key.retireAfter} none={key.status === 'active' ? 'in use' : '—'} />,
            className: 'nowrap',
          },
        ]}
      />
      {confirming ? (
        <ConfirmDialog
          title="Rotate the signing key?"
          confirmLabel="Rotate"
          danger={false}
          onConfirm={rotate}
          onClose={() => setConfirming(undefined)}
        >
          <p>
            A new key signs every token from now on. Tokens already issued stay valid: the current key stays
            published until they expire. Verifiers that cache the key set should fetch it again when they meet
            the new key ID.
          </p>
        </ConfirmDialog>
      ) : null}
    </>
  );
}

export const page: PageDefinition = {
  path: '/keys',
  title: 'Signing keys',
  section: 'Security',
  order: 70,
  anyOf: [],
  adminOnly: true,
  component: SigningKeysPage,
};
