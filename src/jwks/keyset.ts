// Fetch + parse of one provider's JWKS, and the refresh schedule its cache headers imply.
import { fetchDocument, type FetchOptions } from './fetch.js';
import { KeySetError, parseKeySet, type ParsedKeySet } from './parse.js';

/** Without caching headers, a key set is considered fresh this long (then clamped to [min, max]). */
export const DEFAULT_FRESHNESS_SECONDS = 3600;

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

/** Seconds until the next refresh: the response's freshness, clamped to [min, max]. */
export function refreshAfterSeconds(maxAgeSeconds: number | null, minSeconds: number, maxSeconds: number): number {
  const fresh = maxAgeSeconds ?? DEFAULT_FRESHNESS_SECONDS;
  return Math.min(maxSeconds, Math.max(minSeconds, fresh));
}
