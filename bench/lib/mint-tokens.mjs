/**
 * Tokens for the memory group, made beside a served instance instead of through it (asking the
 * token endpoint for 100k tokens took 10 minutes on a loaded SQLite machine and did not finish in
 * 50 on PostgreSQL). Run as a child process with the instance's environment (its secret key, its
 * store), like seed.mjs:
 *
 *   node bench/lib/mint-tokens.mjs <client ids file> <count> <out dir>
 *
 * - `<count>` JWT access tokens, token i for client i (the ids file: one per line, the seeded
 *   bench client first), each signed by the instance's active key through Gatehouse's own
 *   TokenService.issue, with the bench client's record and owner (the seeded clients are its
 *   copies), scope `workflow`: `<out dir>/jwts.txt`;
 * - `<count>` developer tokens of the bench client's owner, made as AccessTokensService.create
 *   makes them (`gh_dev_` + 32 random bytes, the keyring's HMAC stored) but inserted 1,000 rows
 *   per statement, without one audit event each: `<out dir>/developer-tokens.txt`.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const DIST = path.resolve(import.meta.dirname, '../../dist');
const load = (file) => import(pathToFileURL(path.join(DIST, file)).href);

const { loadConfig } = await load('config.js');
const { openRuntime, resolveSecretKey } = await load('bootstrap.js');
const { SecretKeyring } = await load('crypto.js');
const { silentLogger } = await load('logger.js');

const [idsFile, countText, outDir] = process.argv.slice(2);
const count = Number(countText);
const ids = fs.readFileSync(idsFile, 'utf8').trim().split('\n');
const config = loadConfig(process.env, process.cwd());
const runtime = await openRuntime(config, silentLogger());
try {
  const { services, store } = runtime;
  const record = await services.clients.record(ids[0]);
  if (!record) throw new Error(`no client ${ids[0]}`);
  const owner = await services.clients.owner(record.ownerUserId);
  if (!owner) throw new Error(`no owner ${record.ownerUserId}`);

  const jwts = new Array(count);
  // The signer takes the inputs of one event-loop turn as one batch: issue 1,000 at a time.
  for (let i = 0; i < count; i += 1000) {
    const batch = [];
    for (let j = i; j < Math.min(count, i + 1000); j += 1) {
      batch.push(
        services.tokens.issue({ ...record, id: ids[j % ids.length] }, owner, ['workflow']).then((issued) => {
          jwts[j] = issued.accessToken;
        }),
      );
    }
    await Promise.all(batch);
  }
  fs.writeFileSync(path.join(outDir, 'jwts.txt'), `${jwts.join('\n')}\n`);

  const keyring = new SecretKeyring(resolveSecretKey(config).key);
  const now = new Date().toISOString();
  const expiresAt = new Date(Date.now() + 86_400_000).toISOString();
  const developerTokens = [];
  for (let i = 0; i < count; i += 1000) {
    const rows = [];
    for (let j = i; j < Math.min(count, i + 1000); j += 1) {
      const token = `gh_dev_${crypto.randomBytes(32).toString('base64url')}`;
      developerTokens.push(token);
      rows.push({
        prefix: token.slice(0, 15),
        token_hash: keyring.hashSecret('access_token', token),
        description: 'npm run bench (memory)',
        user_id: owner.id,
        created_by: null,
        created_at: now,
        expires_at: expiresAt,
        last_used_at: null,
        revoked_at: null,
      });
    }
    await store.db.insertInto('access_tokens').values(rows).execute();
  }
  fs.writeFileSync(path.join(outDir, 'developer-tokens.txt'), `${developerTokens.join('\n')}\n`);
} finally {
  await runtime.close();
}
