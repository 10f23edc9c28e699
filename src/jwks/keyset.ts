// Fetch + parse of one provider's JWKS, and the refresh schedule.
//
// The schedule (docs/providers.md, "When a provider is refreshed"): a provider publishes a new key
// before it signs with it, so how soon such a key verifies is how often we revalidate. A
// revalidation is a conditional request (If-None-Match / If-Modified-Since) that costs a 304 when
// nothing changed, so by default every provider is revalidated at most every 60 s (refresh-max),
// sooner when its Cache-Control says so (max-age, no-cache), but never more often than every 30 s
// (refresh-min). Each interval loses up to 10 % at random so that providers and hosts drift apart
// instead of asking in lockstep. A failed sync backs off (refresh-min, doubling per consecutive
// failure up to 10 min), and a 429/503 Retry-After is honoured (up to 1 h).
import { fetchDocument, type FetchOptions } from './fetch.js';
import { KeySetError, parseKeySet, type ParsedKeySet } from './parse.js';

/** Defaults of a provider's refresh-min / refresh-max (migration 0011). */
export const DEFAULT_REFRESH_MIN_SECONDS = 30;
export const DEFAULT_REFRESH_MAX_SECONDS = 60;
/** Up to this fraction of each interval is taken off at random. */
export const JITTER_FRACTION = 0.1;
/** The longest wait after consecutive failures, unless refresh-min is longer. */
export const MAX_FAILURE_BACKOFF_SECONDS = 600;

export type FetchedKeySet =
  | { notModified: true; etag: string | null; lastModified: string | null; maxAgeSeconds: number | null }
  | ({ notModified: false; etag: string | null; lastModified: string | null; maxAgeSeconds: number | null } & ParsedKeySet);

export async function fetchKeySet(url: string, allowed: string[] | null, options: FetchOptions): Promise<FetchedKeySet> {
  const response = await fetchDocument(url, options);
  const validators = { etag: response.etag, lastModified: response.lastModified, maxAgeSeconds: response.maxAgeSeconds };
  if (response.status === 304) {
    return { notModified: true, ...validators, etag: response.etag ?? options.etag ?? null, lastModified: response.lastModified ?? options.lastModified ?? null };
  }
  try {
    return { notModified: false, ...validators, ...(await parseKeySet(response.body, allowed)) };
  } catch (error) {
    if (error instanceof KeySetError) throw new KeySetError(`${response.url}: ${error.message}`);
    throw error;
  }
}

/** A factor in (1 − JITTER_FRACTION, 1]: intervals only ever shrink, so bounds stay bounds. */
export function jitterFactor(random: () => number = Math.random): number {
  return 1 - JITTER_FRACTION * random();
}

/**
 * Seconds until the next revalidation after a successful sync: the response's freshness (none
 * given: refresh-max), clamped to [min, max], less the jitter.
 */
export function refreshAfterSeconds(maxAgeSeconds: number | null, minSeconds: number, maxSeconds: number, random: () => number = Math.random): number {
  const fresh = maxAgeSeconds ?? maxSeconds;
  return Math.min(maxSeconds, Math.max(minSeconds, fresh)) * jitterFactor(random);
}

/**
 * Seconds until the next attempt after the `failures`-th failure in a row: refresh-min, doubling
 * per failure, at most MAX_FAILURE_BACKOFF_SECONDS (or refresh-min when that is longer), less the
 * jitter; never sooner than the server's Retry-After.
 */
export function failureBackoffSeconds(failures: number, minSeconds: number, retryAfterSeconds: number | null, random: () => number = Math.random): number {
  const cap = Math.max(minSeconds, MAX_FAILURE_BACKOFF_SECONDS);
  const backoff = Math.min(cap, minSeconds * 2 ** Math.min(Math.max(0, failures - 1), 20)) * jitterFactor(random);
  return Math.max(backoff, retryAfterSeconds ?? 0);
}
