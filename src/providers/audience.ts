// The shared-JWKS audience policy: `provider add` refuses a provider without `--audience` when its
// keys or issuer serve every customer of a platform (the `aud` check of docs/security.md §5 is then
// all that tells this application's tokens from everyone else's).

/** Key sets shared by every customer of a platform: Google and Firebase, Apple, Microsoft multi-tenant. */
const SHARED_JWKS_HOSTS = ['www.googleapis.com', 'googleapis.com', 'securetoken.google.com', 'accounts.google.com', 'appleid.apple.com', 'login.microsoftonline.com', 'login.windows.net'];
const SHARED_ISSUER_HOSTS = ['accounts.google.com', 'securetoken.google.com', 'appleid.apple.com'];

function hostOf(url: string | null | undefined): string | null {
  if (!url) return null;
  try {
    return new URL(url).hostname.toLowerCase();
  } catch {
    return null;
  }
}

/** The reason an audience is required for this provider, or null. */
export function sharedJwksReason(jwksUrl: string | null, issuer: string | null): string | null {
  const jwksHost = hostOf(jwksUrl);
  if (jwksHost && SHARED_JWKS_HOSTS.includes(jwksHost)) return `the keys at ${jwksHost} sign tokens for every customer of that platform`;
  const issuerHost = hostOf(issuer);
  if (issuerHost && SHARED_ISSUER_HOSTS.includes(issuerHost)) return `the issuer ${issuerHost} issues tokens for every customer of that platform`;
  return null;
}
