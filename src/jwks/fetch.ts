// Fetching a JWKS or an OpenID configuration over HTTP(S), defensively: HTTPS unless loopback or
// explicitly allowed, redirects followed only to HTTPS, connect and total timeouts, a size cap
// enforced while streaming, bounded retries with jittered backoff, Retry-After honoured,
// conditional requests, and URLs printed without secrets.
import http from 'node:http';
import https from 'node:https';
import { AuthdbError } from '../errors.js';

export const DEFAULT_MAX_BYTES = 1024 * 1024;
export const DEFAULT_TIMEOUT_MS = 10_000;
export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
export const DEFAULT_RETRIES = 2;
/** An attempt still without an answer after this long gets a progress line. */
export const DEFAULT_SLOW_AFTER_MS = 3_000;
/** A longer Retry-After is shortened to this: a provider cannot switch its own refresh off. */
export const MAX_RETRY_AFTER_SECONDS = 3600;
const MAX_REDIRECTS = 3;

export interface FetchOptions {
  /** Whole request, per attempt: connect, headers and body (default 10 s). */
  timeoutMs?: number;
  /** Until the TCP (and TLS) connection is up (default 5 s). */
  connectTimeoutMs?: number;
  /** Response body cap in bytes (default 1 MiB), enforced while the body streams in. */
  maxBytes?: number;
  /** Further attempts after a network error, a timeout, a 5xx, 408 or 429 (default 2). */
  retries?: number;
  /** First backoff delay; doubles each retry, with full jitter (default 250 ms). */
  backoffMs?: number;
  /** Accept plain http for hosts other than loopback. */
  allowHttp?: boolean;
  etag?: string | null;
  lastModified?: string | null;
  signal?: AbortSignal;
  /**
   * Human progress on slow fetches: a line when an attempt has had no answer for `slowAfterMs`,
   * and one for each failed attempt that is retried. Messages name URLs without secrets.
   */
  onProgress?: (message: string) => void;
  /** Default 3 s, or half the timeout when that is shorter. */
  slowAfterMs?: number;
}

export type FetchResult =
  | { status: 200; body: string; etag: string | null; lastModified: string | null; maxAgeSeconds: number | null; url: string }
  | { status: 304; etag: string | null; lastModified: string | null; maxAgeSeconds: number | null; url: string };

/** A fetch failure; its message names the URL without userinfo, query or fragment. */
export class FetchError extends AuthdbError {
  constructor(
    message: string,
    readonly retryable: boolean,
    /** The server asked to be left alone this long (429/503 with Retry-After, RFC 9110 §10.2.3). */
    readonly retryAfterSeconds: number | null = null,
  ) {
    super('fetch_failed', message);
  }
}

/** The URL as it may be printed: no userinfo, query or fragment (they may carry secrets). */
export function redactUrl(url: string | URL): string {
  try {
    const parsed = new URL(url.toString());
    const query = parsed.search ? '?…' : '';
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}${query}`;
  } catch {
    return '(invalid URL)';
  }
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);

export function isLoopback(url: URL): boolean {
  return LOOPBACK_HOSTS.has(url.hostname.toLowerCase());
}

/** Parses and checks a URL we are about to fetch: https, or http to loopback or when allowed. */
export function checkFetchUrl(url: string, allowHttp = false): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new FetchError(`not a valid URL: ${redactUrl(url)}`, false);
  }
  if (parsed.protocol === 'https:') return parsed;
  if (parsed.protocol === 'http:' && (allowHttp || isLoopback(parsed))) return parsed;
  if (parsed.protocol === 'http:') {
    throw new FetchError(`${redactUrl(parsed)}: plain http is refused for a non-loopback host (use https, or --allow-http)`, false);
  }
  throw new FetchError(`${redactUrl(parsed)}: unsupported URL scheme ${parsed.protocol}`, false);
}

/**
 * Seconds the response stays fresh (RFC 9111 §4.2): Cache-Control max-age minus the Age a cache
 * already spent (no-cache/no-store: 0), else Expires − Date; null when the response says nothing.
 */
export function freshnessSeconds(headers: http.IncomingHttpHeaders): number | null {
  const cacheControl = headers['cache-control'];
  if (cacheControl) {
    const directives = cacheControl.toLowerCase().split(',').map((part) => part.trim());
    if (directives.some((d) => d === 'no-cache' || d === 'no-store')) return 0;
    for (const directive of directives) {
      const match = /^max-age\s*=\s*"?(\d+)"?$/.exec(directive);
      if (match) {
        const age = /^\d+$/.test(String(headers.age ?? '')) ? Number(headers.age) : 0;
        return Math.max(0, Number(match[1]) - age);
      }
    }
  }
  if (headers.expires) {
    const expires = Date.parse(headers.expires);
    const date = headers.date ? Date.parse(headers.date) : Date.now();
    if (Number.isFinite(expires) && Number.isFinite(date)) return Math.max(0, Math.round((expires - date) / 1000));
    return 0; // RFC 9111 §5.3: an invalid Expires means already expired
  }
  return null;
}

/** Retry-After (RFC 9110 §10.2.3): delay-seconds or an HTTP-date; null when absent or invalid. */
export function retryAfterSeconds(value: string | undefined, now = Date.now()): number | null {
  if (value === undefined) return null;
  const text = value.trim();
  let seconds: number;
  if (/^\d+$/.test(text)) seconds = Number(text);
  else {
    const date = Date.parse(text);
    if (!Number.isFinite(date)) return null;
    seconds = Math.max(0, Math.ceil((date - now) / 1000));
  }
  return Math.min(seconds, MAX_RETRY_AFTER_SECONDS);
}

interface Attempt {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function requestOnce(url: URL, headers: Record<string, string>, options: Required<Pick<FetchOptions, 'timeoutMs' | 'connectTimeoutMs' | 'maxBytes'>>, signal?: AbortSignal): Promise<Attempt> {
  const shown = redactUrl(url);
  return new Promise<Attempt>((resolve, reject) => {
    let settled = false;
    const timers: NodeJS.Timeout[] = [];
    const finish = (error: FetchError | null, attempt?: Attempt) => {
      if (settled) return;
      settled = true;
      for (const timer of timers) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (error) {
        request.destroy();
        reject(error);
      } else resolve(attempt!);
    };
    const onAbort = () => finish(new FetchError(`${shown}: aborted`, false));
    const transport = url.protocol === 'https:' ? https : http;
    const request = transport.request(url, { method: 'GET', headers, agent: false });
    timers.push(setTimeout(() => finish(new FetchError(`${shown}: no complete response within ${options.timeoutMs} ms`, true)), options.timeoutMs));
    request.on('socket', (socket) => {
      const connectTimer = setTimeout(
        () => finish(new FetchError(`${shown}: could not connect within ${options.connectTimeoutMs} ms`, true)),
        options.connectTimeoutMs,
      );
      timers.push(connectTimer);
      socket.once(url.protocol === 'https:' ? 'secureConnect' : 'connect', () => clearTimeout(connectTimer));
    });
    request.on('error', (error: NodeJS.ErrnoException) => finish(new FetchError(`${shown}: ${error.code ?? error.message}`, true)));
    request.on('response', (response) => {
      const status = response.statusCode ?? 0;
      const declared = Number(response.headers['content-length']);
      if (Number.isFinite(declared) && declared > options.maxBytes) {
        finish(new FetchError(`${shown}: response of ${declared} bytes is over the ${options.maxBytes}-byte cap`, false));
        return;
      }
      const encoding = response.headers['content-encoding'];
      if (encoding && encoding.toLowerCase() !== 'identity') {
        finish(new FetchError(`${shown}: unexpected content-encoding ${encoding}`, false));
        return;
      }
      const chunks: Buffer[] = [];
      let received = 0;
      response.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received > options.maxBytes) {
          finish(new FetchError(`${shown}: response is over the ${options.maxBytes}-byte cap`, false));
          return;
        }
        chunks.push(chunk);
      });
      response.on('error', (error: NodeJS.ErrnoException) => finish(new FetchError(`${shown}: ${error.code ?? error.message}`, true)));
      response.on('aborted', () => finish(new FetchError(`${shown}: the connection closed mid-response`, true)));
      response.on('end', () => finish(null, { status, headers: response.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    request.end();
  });
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

// Retried at once (after a short jittered backoff). 429 is not: the server asked for fewer
// requests, so the next try waits for the provider's schedule (and its Retry-After, if any).
const RETRYABLE_STATUS = new Set([408, 500, 502, 503, 504]);
const REDIRECT_STATUS = new Set([301, 302, 303, 307, 308]);

/**
 * Where a redirect may lead (docs/security.md §6): to https only, whatever the provider's
 * allow-http setting says for its configured URL; plain http only from loopback to loopback (a
 * local issuer in development and tests), as for the configured URL. An https JWKS URL therefore
 * never hands the sync job to a host an attacker on the network can impersonate.
 */
export function checkRedirect(from: URL, location: string): URL {
  let next: URL;
  try {
    next = new URL(location, from);
  } catch {
    throw new FetchError(`${redactUrl(from)}: redirect to an invalid URL`, false);
  }
  if (next.protocol === 'https:') return next;
  if (next.protocol === 'http:' && from.protocol === 'http:' && isLoopback(from) && isLoopback(next)) return next;
  throw new FetchError(`${redactUrl(from)}: redirect to ${redactUrl(next)} refused: redirects are followed only to https`, false);
}

/** One request with redirects followed (each hop re-checked for https), without retries. */
async function fetchFollowing(start: URL, headers: Record<string, string>, options: FetchOptions & Required<Pick<FetchOptions, 'timeoutMs' | 'connectTimeoutMs' | 'maxBytes'>>): Promise<{ attempt: Attempt; url: URL }> {
  let url = start;
  for (let hop = 0; ; hop += 1) {
    const attempt = await requestOnce(url, headers, options, options.signal);
    if (!REDIRECT_STATUS.has(attempt.status)) return { attempt, url };
    const location = attempt.headers.location;
    if (!location) throw new FetchError(`${redactUrl(url)}: redirect without a Location`, false);
    if (hop >= MAX_REDIRECTS) throw new FetchError(`${redactUrl(start)}: more than ${MAX_REDIRECTS} redirects`, false);
    url = checkRedirect(url, location);
  }
}

/**
 * GETs `url` and returns its body (200) or a not-modified answer (304). Throws FetchError with
 * a message safe to print when every attempt failed.
 */
export async function fetchDocument(url: string, options: FetchOptions = {}): Promise<FetchResult> {
  const settings = {
    ...options,
    timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    connectTimeoutMs: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    maxBytes: options.maxBytes ?? DEFAULT_MAX_BYTES,
  };
  const retries = options.retries ?? DEFAULT_RETRIES;
  const backoffMs = options.backoffMs ?? 250;
  const start = checkFetchUrl(url, options.allowHttp);
  const headers: Record<string, string> = {
    accept: 'application/jwk-set+json, application/json;q=0.9, */*;q=0.1',
    'accept-encoding': 'identity',
    'user-agent': 'authdb',
  };
  if (options.etag) headers['if-none-match'] = options.etag;
  if (options.lastModified) headers['if-modified-since'] = options.lastModified;

  const tries = retries + 1;
  const shown = redactUrl(start);
  const slowAfterMs = options.slowAfterMs ?? Math.min(DEFAULT_SLOW_AFTER_MS, settings.timeoutMs / 2);
  let lastError: FetchError | undefined;
  for (let attempt = 0; attempt <= retries; attempt += 1) {
    if (attempt > 0) {
      // exponential backoff with full jitter: uniform in [0, backoff·2^(n-1)], at least 10 ms
      const delay = Math.round(Math.max(10, Math.random() * backoffMs * 2 ** (attempt - 1)));
      options.onProgress?.(`${shown}: attempt ${attempt} of ${tries} failed (${stripUrl(lastError!.message, shown)}); retrying in ${delay} ms`);
      await sleep(delay, options.signal);
      if (options.signal?.aborted) break;
    }
    const began = Date.now();
    const slow = options.onProgress
      ? setTimeout(() => options.onProgress!(`${shown}: attempt ${attempt + 1} of ${tries}: no answer after ${seconds(Date.now() - began)} (giving up at ${seconds(settings.timeoutMs)})`), slowAfterMs)
      : undefined;
    try {
      const { attempt: response, url: finalUrl } = await fetchFollowing(start, headers, settings).finally(() => clearTimeout(slow));
      const common = {
        etag: (response.headers.etag as string | undefined) ?? null,
        lastModified: (response.headers['last-modified'] as string | undefined) ?? null,
        maxAgeSeconds: freshnessSeconds(response.headers),
        url: redactUrl(finalUrl),
      };
      if (response.status === 304) return { status: 304, ...common };
      if (response.status === 200) return { status: 200, body: response.body, ...common };
      // 429/503 with Retry-After: no further attempt now; the caller schedules the next one.
      const retryAfter = response.status === 429 || response.status === 503 ? retryAfterSeconds(response.headers['retry-after'] as string | undefined) : null;
      const error = new FetchError(
        `${redactUrl(finalUrl)}: HTTP ${response.status}${retryAfter !== null ? ` (Retry-After ${retryAfter} s)` : ''}`,
        retryAfter === null && RETRYABLE_STATUS.has(response.status),
        retryAfter,
      );
      if (!error.retryable) throw error;
      lastError = error;
    } catch (error) {
      if (!(error instanceof FetchError) || !error.retryable) throw error;
      lastError = error;
    }
  }
  throw new FetchError(`${lastError?.message ?? `${shown}: aborted`}${tries > 1 ? ` (after ${tries} attempts)` : ''}`, false);
}

function seconds(ms: number): string {
  return `${ms < 10_000 ? (ms / 1000).toFixed(1) : Math.round(ms / 1000)} s`;
}

/** An error message without the URL prefix that the progress line already shows. */
function stripUrl(message: string, shown: string): string {
  return message.startsWith(`${shown}: `) ? message.slice(shown.length + 2) : message;
}
