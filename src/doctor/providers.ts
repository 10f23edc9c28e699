// Identity providers: each one can verify tokens, its key sync is healthy, and no two of them hand
// out the same bare subjects.
import { report, type DoctorContext } from './finding.js';

/** How long past its planned refresh a provider may go before it counts as stale. */
const STALE_GRACE = '1 hour';

async function providerColumns(context: DoctorContext): Promise<Set<string>> {
  const { rows } = await context.client.query<{ column_name: string }>(
    `SELECT a.attname AS column_name FROM pg_catalog.pg_attribute AS a
      WHERE a.attrelid = pg_catalog.to_regclass(pg_catalog.quote_ident($1) || '.providers') AND a.attnum > 0 AND NOT a.attisdropped`,
    [context.authSchema],
  );
  return new Set(rows.map((r) => r.column_name));
}

/** A provider name as a shell argument (names are the registry's, so quote anything unusual). */
function shellWord(name: string): string {
  return /^[\w.:-]+$/.test(name) ? name : `'${name.replace(/'/g, `'\\''`)}'`;
}

export async function checkProviders(context: DoctorContext): Promise<void> {
  const { client } = context;
  const schema = context.authSchemaSql;
  context.checked.push('providers');
  const keys = await client.query<{ name: string; active: number }>(
    `SELECT p.name, pg_catalog.count(k.id) FILTER (WHERE k.status = 'active' OR (k.status = 'retired' AND k.verify_until > pg_catalog.now()))::int AS active
       FROM ${schema}.providers AS p LEFT JOIN ${schema}.keys AS k ON k.provider_id = p.id
      GROUP BY p.name ORDER BY p.name`,
  );
  if (keys.rowCount === 0) {
    report(context, {
      check: 'providers', code: 'no_providers', severity: 'warning',
      message: 'no identity provider is registered, so no token can verify',
      fix: 'run `authdb provider add NAME --jwks-url URL` (or `authdb keys add` for static keys)',
    });
  }
  for (const row of keys.rows) {
    if (row.active === 0) {
      report(context, {
        check: 'providers', code: 'provider_unusable', severity: 'problem', subject: row.name,
        message: `provider ${row.name} has no usable key: none of its tokens can verify`,
        fix: `run \`authdb sync-jwks --provider ${shellWord(row.name)}\` or \`authdb keys add --provider ${shellWord(row.name)} --file JWKS.json\``,
      });
    }
  }
  const columns = await providerColumns(context);
  if (columns.has('subject_prefix')) await checkSharedSubjects(context);
  else context.skipped.push({ check: 'shared subjects', reason: 'this schema has no per-provider subject prefix (migration 0006)' });

  // Sync health columns come with migration 0005; without them there is nothing more to check.
  if (!['last_synced_at', 'last_error', 'last_error_at', 'next_refresh_at'].every((c) => columns.has(c))) {
    context.skipped.push({ check: 'provider sync health', reason: 'this schema records no sync state (auth.providers has no last_synced_at, last_error, next_refresh_at)' });
    return;
  }
  // A failure counts until a later success (last_error may be kept for the record).
  const sync = await client.query<{ name: string; last_error: string | null; last_synced_at: Date | null; stale: boolean }>(
    `SELECT name, last_synced_at,
            CASE WHEN last_error_at IS NULL OR last_synced_at IS NULL OR last_error_at >= last_synced_at
                 THEN last_error END AS last_error,
            (next_refresh_at IS NOT NULL AND next_refresh_at < pg_catalog.now() - $1::interval) AS stale
       FROM ${schema}.providers WHERE jwks_url IS NOT NULL ORDER BY name`,
    [STALE_GRACE],
  );
  for (const row of sync.rows) {
    if (row.last_error) {
      report(context, {
        check: 'providers', code: 'provider_sync_failed', severity: 'problem', subject: row.name,
        message: `provider ${row.name}: the last key sync failed: ${row.last_error.split('\n')[0]}`,
        fix: `check its JWKS URL, then run \`authdb sync-jwks --provider ${shellWord(row.name)}\``,
      });
    } else if (row.last_synced_at === null) {
      report(context, {
        check: 'providers', code: 'provider_never_synced', severity: 'warning', subject: row.name,
        message: `provider ${row.name} has never synced its JWKS`,
        fix: `run \`authdb sync-jwks --provider ${shellWord(row.name)}\``,
      });
    }
    if (row.stale) {
      report(context, {
        check: 'providers', code: 'provider_stale', severity: 'problem', subject: row.name,
        message: `provider ${row.name} is stale: its keys were due for a refresh more than ${STALE_GRACE} ago`,
        fix: 'schedule `authdb sync-jwks` (cron), or run `authdb sync-jwks --watch`',
      });
    }
  }
}

/**
 * Providers without a subject prefix share one namespace of subjects: a user of one provider and a
 * user of another with the same `sub` are the same auth.user_id(), so either issuer can mint tokens
 * for the other's users. Intended only when both really name the same users (--shared-subjects).
 */
async function checkSharedSubjects(context: DoctorContext): Promise<void> {
  const schema = context.authSchemaSql;
  const { rows } = await context.client.query<{ name: string }>(
    `SELECT name FROM ${schema}.providers WHERE subject_prefix IS NULL ORDER BY id`,
  );
  if (rows.length < 2) return;
  const [first, ...others] = rows.map((r) => r.name);
  report(context, {
    check: 'providers', code: 'providers_share_subjects', severity: 'warning', subject: rows.map((r) => r.name).join(', '),
    message: `providers ${rows.map((r) => r.name).join(', ')} have no subject prefix, so they share subjects: ` +
      `a token of one with the \`sub\` of another's user is that user (fine only if they name the same users); ${first} keeps its bare subjects`,
    fix: others.map((name) => `authdb provider update ${shellWord(name)} --subject-prefix ${shellWord(`${name}:`)}`).join('; '),
  });
}
