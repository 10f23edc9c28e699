// `--claim NAME=VALUE` (dev token, dev sql, why): the claims a user's identity carries, written on
// the command line. The library takes them as an object (`mintDevToken({ claims })`, `explainWhy`).
import { InvalidArgumentError } from 'commander';

export type Claims = Record<string, unknown>;

/**
 * Adds one `--claim NAME=VALUE` to the claims so far: a value that is JSON (a number, an array,
 * `true`, a quoted string, …) stays typed, anything else is a string. One without a name or `=`
 * is a usage error; a name given twice keeps its last value.
 */
export function claimArgument(pair: string, previous: Claims = {}): Claims {
  const at = pair.indexOf('=');
  if (at <= 0) throw new InvalidArgumentError('expected NAME=VALUE, e.g. tenant_id=acme or roles=["admin"]');
  const raw = pair.slice(at + 1);
  let value: unknown = raw;
  try {
    value = JSON.parse(raw);
  } catch {
    // a plain string
  }
  return { ...previous, [pair.slice(0, at)]: value };
}
