// A real HTTP(S) server on loopback for JWKS tests: each path answers with a scriptable behaviour
// (a key set with ETag and Cache-Control, an error status, a hang, a slow drip, a huge body, a
// redirect).
import { createPrivateKey, createPublicKey } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { SignJWT } from 'jose';
import { createTestDatabase, type TestDatabase } from './db.js';
import { newKeyPairSync } from '../../src/key-pair.js';

export type Behaviour =
  | { kind: 'json'; body: unknown; etag?: string; maxAge?: number; status?: number }
  | { kind: 'raw'; body: string; status?: number; headers?: Record<string, string> }
  | { kind: 'status'; status: number }
  | { kind: 'hang' }
  | { kind: 'drip'; intervalMs: number; chunks: number }
  | { kind: 'huge'; bytes: number; declareLength: boolean }
  | { kind: 'redirect'; location: string; status?: number }
  | { kind: 'sequence'; steps: Behaviour[] };

export interface JwksServer {
  origin: string;
  url(path: string): string;
  set(path: string, behaviour: Behaviour): void;
  /** Requests received per path, with the conditional headers they carried. */
  requests: { path: string; ifNoneMatch?: string; at: number }[];
  count(path: string): number;
  close(): Promise<void>;
}

/**
 * A self-signed certificate for IP 127.0.0.1 (openssl, P-256, valid until 2036) and its key: an
 * HTTPS test server uses them, and a child process trusts them through NODE_EXTRA_CA_CERTS.
 */
export const TEST_TLS_CERT = `-----BEGIN CERTIFICATE-----
MIIBkjCCATigAwIBAgIULvkRmf5bbyZSqXcFkurzfoR1kGwwCgYIKoZIzj0EAwIw
FjEUMBIGA1UEAwwLYXV0aGRiIHRlc3QwHhcNMjYxMjAyMTY0ODExWhcNMzYxMTI5
MTY0ODExWjAWMRQwEgYDVQQDDAthdXRoZGIgdGVzdDBZMBMGByqGSM49AgEGCCqG
SM49AwEHA0IABFQ8eA8rxafwpnQcKZw1iGu94fcTzVmuu0ZsZgBeh8nznGnSR8LV
KxMVRiiKLS0slqzY79vsbOakHFPUcdiF7YijZDBiMB0GA1UdDgQWBBTxjfmq9q4v
lyQ064UQVz62ZVpVkzAfBgNVHSMEGDAWgBTxjfmq9q4vlyQ064UQVz62ZVpVkzAP
BgNVHRMBAf8EBTADAQH/MA8GA1UdEQQIMAaHBH8AAAEwCgYIKoZIzj0EAwIDSAAw
RQIgdvNFd8m+eDLY4vFUkViOPb+dyScYiRBK58zwTUNS+k0CIQCPnffRprOly/IT
vT1NOn0NoIyUQFpTu4Ow+JcUc/4ZYQ==
-----END CERTIFICATE-----
`;
const TEST_TLS_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgAB56zzY8oF0jRi83
mOP/j+0LNXm1xGhKE1eJ83xIJ76hRANCAARUPHgPK8Wn8KZ0HCmcNYhrveH3E81Z
rrtGbGYAXofJ85xp0kfC1SsTFUYoii0tLJas2O/b7GzmpBxT1HHYhe2I
-----END PRIVATE KEY-----
`;

export interface JwksServerOptions {
  /** Serve HTTPS with TEST_TLS_CERT (the host must then be 127.0.0.1). */
  tls?: boolean;
  /** Address to listen on (default 127.0.0.1; any 127.x.y.z works on Linux). */
  host?: string;
}

export async function startJwksServer(serverOptions: JwksServerOptions = {}): Promise<JwksServer> {
  const routes = new Map<string, Behaviour>();
  const sequenceAt = new Map<string, number>();
  const requests: JwksServer['requests'] = [];
  const open = new Set<http.ServerResponse>();

  function respond(behaviour: Behaviour, request: http.IncomingMessage, response: http.ServerResponse, path: string): void {
    switch (behaviour.kind) {
      case 'sequence': {
        const at = sequenceAt.get(path) ?? 0;
        sequenceAt.set(path, at + 1);
        return respond(behaviour.steps[Math.min(at, behaviour.steps.length - 1)]!, request, response, path);
      }
      case 'json': {
        if (behaviour.etag && request.headers['if-none-match'] === behaviour.etag) {
          response.writeHead(304, { etag: behaviour.etag, 'cache-control': `max-age=${behaviour.maxAge ?? 600}` });
          return void response.end();
        }
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        if (behaviour.etag) headers.etag = behaviour.etag;
        if (behaviour.maxAge !== undefined) headers['cache-control'] = `public, max-age=${behaviour.maxAge}`;
        response.writeHead(behaviour.status ?? 200, headers);
        return void response.end(JSON.stringify(behaviour.body));
      }
      case 'raw':
        response.writeHead(behaviour.status ?? 200, behaviour.headers ?? { 'content-type': 'application/json' });
        return void response.end(behaviour.body);
      case 'status':
        response.writeHead(behaviour.status, { 'content-type': 'text/plain' });
        return void response.end(`status ${behaviour.status}`);
      case 'redirect':
        response.writeHead(behaviour.status ?? 302, { location: behaviour.location });
        return void response.end();
      case 'hang':
        return; // never answers; closed when the client gives up or the server closes
      case 'drip': {
        response.writeHead(200, { 'content-type': 'application/json' });
        let sent = 0;
        const timer = setInterval(() => {
          if (response.destroyed || sent >= behaviour.chunks) {
            clearInterval(timer);
            if (!response.destroyed) response.end();
            return;
          }
          response.write(' ');
          sent += 1;
        }, behaviour.intervalMs);
        response.on('close', () => clearInterval(timer));
        return;
      }
      case 'huge': {
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        if (behaviour.declareLength) headers['content-length'] = String(behaviour.bytes);
        response.writeHead(200, headers);
        const chunk = Buffer.alloc(64 * 1024, 0x20);
        let left = behaviour.bytes;
        const pump = () => {
          while (left > 0 && !response.destroyed) {
            const piece = chunk.subarray(0, Math.min(chunk.length, left));
            left -= piece.length;
            if (!response.write(piece)) return void response.once('drain', pump);
          }
          if (!response.destroyed) response.end();
        };
        return pump();
      }
    }
  }

  const handler = (request: http.IncomingMessage, response: http.ServerResponse) => {
    const path = new URL(request.url ?? '/', 'http://127.0.0.1').pathname;
    requests.push({ path, ifNoneMatch: request.headers['if-none-match'], at: Date.now() });
    open.add(response);
    response.on('close', () => open.delete(response));
    const behaviour = routes.get(path);
    if (!behaviour) {
      response.writeHead(404);
      return void response.end();
    }
    respond(behaviour, request, response, path);
  };
  const server = serverOptions.tls ? https.createServer({ cert: TEST_TLS_CERT, key: TEST_TLS_KEY }, handler) : http.createServer(handler);
  const host = serverOptions.host ?? '127.0.0.1';
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  const origin = `${serverOptions.tls ? 'https' : 'http'}://${host}:${port}`;
  return {
    origin,
    url: (path) => `${origin}${path}`,
    set: (path, behaviour) => {
      routes.set(path, behaviour);
      sequenceAt.delete(path);
    },
    requests,
    count: (path) => requests.filter((request) => request.path === path).length,
    close: async () => {
      for (const response of open) response.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A key pair whose public half a test serves in a JWKS and whose private half signs tokens. */
export interface ServedKey {
  kid: string;
  alg: string;
  jwk: Record<string, unknown>;
  /** A token for `alice`, valid for 10 min; `kid` overrides the key's own kid in the header. */
  sign(claims: Record<string, unknown>, kid?: string): Promise<string>;
}

export function servedKey(kid: string, alg: 'EdDSA' | 'ES256' | 'RS256' = 'EdDSA', options: { omitAlg?: boolean; privateKeyPem?: string } = {}): ServedKey {
  const fixed = options.privateKeyPem ? createPrivateKey(options.privateKeyPem) : null;
  const pair = fixed
    ? { privateKey: fixed, publicKey: createPublicKey(fixed) }
    : alg === 'EdDSA'
    ? newKeyPairSync('ed25519')
    : alg === 'ES256'
      ? newKeyPairSync('ec', { namedCurve: 'P-256' })
      : newKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk: Record<string, unknown> = { ...(pair.publicKey.export({ format: 'jwk' }) as Record<string, unknown>), kid, use: 'sig' };
  if (!options.omitAlg) jwk.alg = alg;
  return {
    kid,
    alg,
    jwk,
    sign: (claims, headerKid = kid) => {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ sub: 'alice', iat: now, exp: now + 600, ...claims })
        .setProtectedHeader({ alg, kid: headerKid, typ: 'JWT' })
        .sign(pair.privateKey);
    },
  };
}

export const jwks = (...keys: (ServedKey | Record<string, unknown>)[]): { keys: Record<string, unknown>[] } => ({
  keys: keys.map((key) => ('jwk' in key && 'sign' in key ? (key as ServedKey).jwk : (key as Record<string, unknown>))),
});

/** A self-signed Ed25519 certificate (made with openssl for these tests) and its private key. */
export const ED25519_CERT =
  'MIIBQDCB86ADAgECAhR+Qx7yENLxGvWklBSOyd9PAgyHuzAFBgMrZXAwFjEUMBIGA1UEAwwLYXV0aGRiIHRlc3QwHhcNMjYxMTIzMDkzNjI5WhcNMzYxMTIwMDkzNjI5WjAWMRQwEgYDVQQDDAthdXRoZGIgdGVzdDAqMAUGAytlcAMhANuFGikbmcrzksjClGh+zPoG4pMzAhhFalbIWY0dqI04o1MwUTAdBgNVHQ4EFgQUll8kFQstVQWlo0K9rhmbfTGSt5MwHwYDVR0jBBgwFoAUll8kFQstVQWlo0K9rhmbfTGSt5MwDwYDVR0TAQH/BAUwAwEB/zAFBgMrZXADQQB+3DMjwR3I1F3aiyEaULfOzpeIhdRXcW8yPd+bbSgtIxx6Doq7w/O2lhXPxrSeCzCqj5At539dewB+TRFEIoYP';
export const ED25519_CERT_PRIVATE_KEY = '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIMT1plipnHd2onY87ij5V1zRkITojZSiqG07RDgZnyMG\n-----END PRIVATE KEY-----\n';

/** Fetch settings that keep the sync tests quick against the loopback server (two retries, short waits). */
export const FAST_FETCH = { timeoutMs: 1500, connectTimeoutMs: 1000, retries: 2, backoffMs: 20 };

/** What the JWKS sync tests start with: a migrated test database and a JWKS server on loopback. */
export interface JwksFixture {
  db: TestDatabase;
  server: JwksServer;
}

export async function openJwksFixture(): Promise<JwksFixture> {
  return { db: await createTestDatabase(), server: await startJwksServer() };
}

export async function closeJwksFixture(fixture: Partial<JwksFixture>): Promise<void> {
  await fixture.server?.close();
  await fixture.db?.drop();
}
