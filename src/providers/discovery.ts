// OpenID Connect Discovery 1.0: finding an issuer's JWKS URL from its published configuration.
import { checkFetchUrl, fetchDocument, FetchError, redactUrl, type FetchOptions } from '../jwks/fetch.js';

/**
 * The jwks_uri of an issuer (OpenID Connect Discovery 1.0 §4). The configuration is read from
 * ISSUER/.well-known/openid-configuration (§4.1), and its `issuer` must be exactly the issuer asked
 * about (§4.3), or a document served for one issuer could name the keys of another.
 */
export async function discoverJwksUrl(issuer: string, options: FetchOptions = {}): Promise<{ jwksUrl: string; configurationUrl: string }> {
  const configurationUrl = `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
  checkFetchUrl(configurationUrl, options.allowHttp);
  const response = await fetchDocument(configurationUrl, { ...options, etag: null, lastModified: null });
  if (response.status !== 200) throw new FetchError(`${redactUrl(configurationUrl)}: unexpected HTTP ${response.status}`, false);
  let document: { issuer?: unknown; jwks_uri?: unknown };
  try {
    document = JSON.parse(response.body) as typeof document;
  } catch {
    throw new Error(`${redactUrl(configurationUrl)}: the OpenID configuration is not valid JSON`);
  }
  if (document?.issuer !== issuer) {
    throw new Error(`${redactUrl(configurationUrl)}: the OpenID configuration names issuer ${JSON.stringify(document?.issuer ?? null)}, not ${JSON.stringify(issuer)}`);
  }
  if (typeof document.jwks_uri !== 'string' || document.jwks_uri === '') {
    throw new Error(`${redactUrl(configurationUrl)}: the OpenID configuration has no jwks_uri`);
  }
  checkFetchUrl(document.jwks_uri, options.allowHttp);
  return { jwksUrl: document.jwks_uri, configurationUrl };
}
