// The sync state of a provider (etag, last_modified, last_synced_at, next_refresh_at,
// sync_failures, last_error on auth.providers): the schedule's queries and the only writes to it.
import type pg from 'pg';
import { failureBackoffSeconds } from '../jwks/keyset.js';

/** A provider as a sync sees it: where its keys are, what it allows, its schedule and validators. */
export interface ProviderConfig {
  id: string;
  name: string;
  issuer: string;
  jwksUrl: string | null;
  audiences: string[];
  algorithms: string[] | null;
  leewaySeconds: number;
  graceSeconds: number;
  refreshMinSeconds: number;
  refreshMaxSeconds: number;
  allowHttp: boolean;
  etag: string | null;
  lastModified: string | null;
}

const PROVIDER_COLUMNS = `id, name, issuer, jwks_url, audiences, algorithms, leeway_seconds, grace_seconds,
  refresh_min_seconds, refresh_max_seconds, allow_http, etag, last_modified`;

function toConfig(row: Record<string, unknown>): ProviderConfig {
  return {
    id: String(row.id),
    name: row.name as string,
    issuer: row.issuer as string,
    jwksUrl: row.jwks_url as string | null,
    audiences: row.audiences as string[],
    algorithms: row.algorithms as string[] | null,
    leewaySeconds: row.leeway_seconds as number,
    graceSeconds: row.grace_seconds as number,
    refreshMinSeconds: row.refresh_min_seconds as number,
    refreshMaxSeconds: row.refresh_max_seconds as number,
    allowHttp: row.allow_http as boolean,
    etag: row.etag as string | null,
    lastModified: row.last_modified as string | null,
  };
}

export async function getProvider(client: pg.ClientBase, name: string): Promise<ProviderConfig> {
  const { rows } = await client.query(`SELECT ${PROVIDER_COLUMNS} FROM auth.providers WHERE name = $1`, [name]);
  if (!rows[0]) throw new Error(`no provider named ${name}`);
  return toConfig(rows[0]);
}

/**
 * A provider counts as due this long before its next refresh time: a cron job started every
 * minute runs a little early or late against a schedule that was itself set a minute ago, and a
 * run that came a second early must not skip the provider for a whole minute.
 */
export const DUE_EARLY_SECONDS = 5;

/** Providers with a JWKS URL; with `dueOnly`, those whose next refresh time has come. */
export async function syncableProviders(client: pg.ClientBase, dueOnly: boolean): Promise<ProviderConfig[]> {
  const { rows } = await client.query(
    `SELECT ${PROVIDER_COLUMNS} FROM auth.providers
      WHERE jwks_url IS NOT NULL
        AND (NOT $1 OR next_refresh_at IS NULL OR next_refresh_at <= pg_catalog.now() + pg_catalog.make_interval(secs => $2))
      ORDER BY name`,
    [dueOnly, DUE_EARLY_SECONDS],
  );
  return rows.map(toConfig);
}

/** Seconds until the earliest next refresh among synced providers (0 when one is due now). */
export async function secondsUntilNextRefresh(client: pg.ClientBase): Promise<number | null> {
  // date_part, not EXTRACT: `extract(epoch FROM …)` is grammar and cannot be schema-qualified.
  const { rows } = await client.query<{ seconds: number | null }>(
    `SELECT CASE WHEN pg_catalog.bool_or(next_refresh_at IS NULL) THEN 0
                ELSE pg_catalog.date_part('epoch', pg_catalog.min(next_refresh_at) - pg_catalog.now()) END AS seconds
       FROM auth.providers WHERE jwks_url IS NOT NULL`,
  );
  const seconds = rows[0]?.seconds;
  if (seconds === null || seconds === undefined) return null;
  return Math.max(0, Number.isFinite(seconds) ? seconds : 0);
}

/**
 * Records a successful sync, inside the sync's transaction: the validators for the next
 * conditional request, and the next refresh time; consecutive failures start again from zero.
 */
export async function recordSync(
  client: pg.ClientBase, providerId: string, validators: { etag: string | null; lastModified: string | null }, refreshAfterSeconds: number,
): Promise<Date | null> {
  const { rows } = await client.query<{ next_refresh_at: Date }>(
    `UPDATE auth.providers
        SET etag = $2, last_modified = $3, last_synced_at = pg_catalog.now(), sync_failures = 0,
            next_refresh_at = pg_catalog.now() + pg_catalog.make_interval(secs => $4)
      WHERE id = $1 RETURNING next_refresh_at`,
    [providerId, validators.etag, validators.lastModified, refreshAfterSeconds],
  );
  return rows[0]?.next_refresh_at ?? null;
}

/** Records a failed sync in last_error; the keys themselves are untouched, the next attempt backs off (see keyset.ts). */
export async function recordFailure(client: pg.ClientBase, provider: ProviderConfig, message: string, retryAfterSeconds: number | null): Promise<Date | null> {
  const { rows: counted } = await client.query<{ sync_failures: number; refresh_min_seconds: number }>(
    `UPDATE auth.providers
        SET last_error = $2, last_error_at = pg_catalog.now(), sync_failures = sync_failures + 1
      WHERE id = $1 RETURNING sync_failures, refresh_min_seconds`,
    [provider.id, message.slice(0, 2000)],
  );
  if (!counted[0]) return null;
  const { rows } = await client.query<{ next_refresh_at: Date }>(
    `UPDATE auth.providers SET next_refresh_at = pg_catalog.now() + pg_catalog.make_interval(secs => $2)
      WHERE id = $1 RETURNING next_refresh_at`,
    [provider.id, failureBackoffSeconds(counted[0].sync_failures, counted[0].refresh_min_seconds, retryAfterSeconds)],
  );
  return rows[0]?.next_refresh_at ?? null;
}
