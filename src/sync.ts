// `authdb sync-jwks`: refresh providers' keys from their JWKS URLs, once (cron) or continuously.
// A provider's keys change only through a complete, valid key set applied in one transaction;
// any failure leaves them exactly as they were and is recorded in last_error.
import type pg from 'pg';
import { applyKeySet, type ApplyCounts } from './jwks/apply.js';
import { FetchError, type FetchOptions } from './jwks/fetch.js';
import { fetchKeySet, refreshAfterSeconds, type FetchedKeySet } from './jwks/keyset.js';
import { printable, type SkippedKey } from './jwks/parse.js';

export { printable };
import { pruneRevocationsIfInstalled } from './revocations.js';
import { getProvider, recordFailure, recordSync, secondsUntilNextRefresh, syncableProviders, type ProviderConfig } from './sync/state.js';
import { inTransaction } from './transaction.js';

export interface SyncResult extends ApplyCounts {
  provider: string;
  ok: boolean;
  /** `updated`: a new key set was applied; `not_modified`: the server answered 304. */
  outcome: 'updated' | 'not_modified' | 'failed';
  skipped: SkippedKey[];
  error: string | null;
  durationMs: number;
  nextRefreshAt: Date | null;
}

export interface SyncOptions {
  /** Only this provider (synced whether due or not). */
  provider?: string;
  /** Every provider, due or not, with unconditional requests. */
  force?: boolean;
  fetch?: FetchOptions;
  /** Called with each provider's result as soon as it is known. */
  onResult?: (result: SyncResult) => void;
}

const zero: ApplyCounts = { added: 0, retired: 0, restored: 0, replaced: 0, unchanged: 0 };

/** Errors are printed and stored: their messages name URLs without secrets (see fetch.ts). */
function describe(error: unknown): string {
  const message = printable(error instanceof Error ? error.message : String(error));
  // A set of thousands of bad keys names each one: keep the line readable.
  return message.length > 1000 ? `${message.slice(0, 1000)}… (${message.length - 1000} more characters)` : message;
}

/** What one sync step did to a provider's keys, and when the provider is due next. */
export interface SyncStep {
  counts: ApplyCounts;
  skipped: SkippedKey[];
  nextRefreshAt: Date | null;
}

/**
 * The sync step, inside the caller's transaction (every sync, and `provider add`'s first one):
 * applies a fetched key set to the provider's keys, or on a 304 counts the keys that stay, then
 * records the sync.
 */
export async function applyFetchedKeySet(
  client: pg.ClientBase, provider: Pick<ProviderConfig, 'id' | 'name'>, keySet: FetchedKeySet, refreshAfterSeconds: number,
): Promise<SyncStep> {
  let counts: ApplyCounts = zero;
  let skipped: SkippedKey[] = [];
  if (keySet.notModified) {
    // Serialize with a concurrent sync all the same, and count what stays as it is.
    await client.query('SELECT 1 FROM auth.providers WHERE id = $1 FOR UPDATE', [provider.id]);
    const { rows } = await client.query<{ count: number }>(
      "SELECT pg_catalog.count(*)::int AS count FROM auth.keys WHERE provider_id = $1 AND source = 'jwks' AND status = 'active'",
      [provider.id],
    );
    counts = { ...zero, unchanged: rows[0]!.count };
  } else {
    const applied = await applyKeySet(client, provider.name, keySet.keys);
    skipped = [...keySet.skipped, ...applied.skipped];
    counts = { added: applied.added, retired: applied.retired, restored: applied.restored, replaced: applied.replaced, unchanged: applied.unchanged };
  }
  const nextRefreshAt = await recordSync(client, provider.id, keySet, refreshAfterSeconds);
  return { counts, skipped, nextRefreshAt };
}

/** Syncs one provider; never throws for a sync failure (the result says `ok: false`). */
export async function syncProvider(client: pg.ClientBase, provider: ProviderConfig, options: { force?: boolean; fetch?: FetchOptions } = {}): Promise<SyncResult> {
  const started = performance.now();
  const base = { provider: provider.name, skipped: [] as SkippedKey[], ...zero };
  const elapsed = () => Math.round(performance.now() - started);
  if (!provider.jwksUrl) {
    return { ...base, ok: false, outcome: 'failed', error: `provider ${provider.name} has no JWKS URL (its keys are static)`, durationMs: 0, nextRefreshAt: null };
  }
  try {
    const keySet = await fetchKeySet(provider.jwksUrl, provider.algorithms, {
      ...options.fetch,
      onProgress: options.fetch?.onProgress && ((message) => options.fetch!.onProgress!(`${provider.name}: ${message}`)),
      allowHttp: provider.allowHttp || options.fetch?.allowHttp,
      etag: options.force ? null : provider.etag,
      lastModified: options.force ? null : provider.lastModified,
    });
    const refreshAfter = refreshAfterSeconds(keySet.maxAgeSeconds, provider.refreshMinSeconds, provider.refreshMaxSeconds);
    const { counts, skipped, nextRefreshAt } = await inTransaction(client, () => applyFetchedKeySet(client, provider, keySet, refreshAfter));
    return { ...base, ...counts, skipped, ok: true, outcome: keySet.notModified ? 'not_modified' : 'updated', error: null, durationMs: elapsed(), nextRefreshAt };
  } catch (error) {
    const message = describe(error);
    // A sync stopped by the caller (watch shutting down) is not the provider's failure.
    const retryAfter = error instanceof FetchError ? error.retryAfterSeconds : null;
    const nextRefreshAt = options.fetch?.signal?.aborted ? null : await recordFailure(client, provider, message, retryAfter);
    return { ...base, ok: false, outcome: 'failed', error: message, durationMs: elapsed(), nextRefreshAt };
  }
}

/** Syncs the due providers (or one, or all with `force`); returns one result per provider. */
export async function syncProviders(client: pg.ClientBase, options: SyncOptions = {}): Promise<SyncResult[]> {
  const providers = options.provider
    ? [await getProvider(client, options.provider)]
    : await syncableProviders(client, !options.force);
  const results: SyncResult[] = [];
  const signal = options.fetch?.signal;
  for (const provider of providers) {
    if (signal?.aborted) break;
    const result = await syncProvider(client, provider, options);
    // A sync cut short by the caller (watch shutting down) is neither a result nor a failure.
    if (!result.ok && signal?.aborted) break;
    options.onResult?.(result);
    results.push(result);
  }
  // Revocation entries no unexpired token can match any more go with every run (docs/revocation.md).
  if (!signal?.aborted) await pruneRevocationsIfInstalled(client);
  return results;
}

/** One human line per provider: counts and time, or the cause of the failure. */
export function describeResult(result: SyncResult): string {
  if (!result.ok) return `${result.provider}: FAILED after ${result.durationMs} ms: ${result.error}`;
  const counts = result.outcome === 'not_modified'
    ? `not modified, ${result.unchanged} unchanged`
    : `${result.added} added, ${result.retired} retired, ${result.restored} restored, ${result.replaced} replaced, ${result.unchanged} unchanged` +
      (result.skipped.length ? `, ${result.skipped.length} skipped` : '');
  const next = result.nextRefreshAt ? `; next refresh ${result.nextRefreshAt.toISOString()}` : '';
  return `${result.provider}: ${counts} in ${result.durationMs} ms${next}`;
}

export interface WatchOptions extends Omit<SyncOptions, 'force' | 'provider'> {
  /** Longest sleep between checks, in seconds (default 60). */
  intervalSeconds?: number;
  /** Stops the loop (SIGINT/SIGTERM in the CLI). */
  signal: AbortSignal;
  /** A fresh connection per round, so a restarted database does not end the watch. */
  connect: () => Promise<pg.Client>;
  onError?: (message: string) => void;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Refreshes each provider when it is due until `signal` aborts; resolves after the last round. */
export async function watchProviders(options: WatchOptions): Promise<{ rounds: number; failures: number }> {
  const cap = Math.max(1, options.intervalSeconds ?? 60);
  let rounds = 0;
  let failures = 0;
  while (!options.signal.aborted) {
    let sleepSeconds = cap;
    try {
      const client = await options.connect();
      try {
        const results = await syncProviders(client, { fetch: { ...options.fetch, signal: options.signal }, onResult: options.onResult });
        failures += results.filter((result) => !result.ok).length;
        const next = await secondsUntilNextRefresh(client);
        if (next !== null) sleepSeconds = Math.min(cap, Math.max(1, next));
      } finally {
        await client.end().catch(() => undefined);
      }
    } catch (error) {
      options.onError?.(describe(error));
    }
    rounds += 1;
    await sleep(sleepSeconds * 1000, options.signal);
  }
  return { rounds, failures };
}

