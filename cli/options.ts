// Parsers for option values, shared by every command. A bad value throws commander's
// InvalidArgumentError, which the CLI reports as a usage error: one line on stderr, exit 2.
import { InvalidArgumentError } from 'commander';
import { printable } from '../src/printable.js';
import { InvalidSettingError } from '../src/providers/registry.js';
import { checkSchemaName, SchemaNameError } from '../src/schema.js';

const DECIMAL = /^\d+(\.\d+)?$/;
const WHOLE = /^\d+$/;

/** A whole number ≥ 1 (`--count`, `--ttl`). */
export function positiveInteger(value: string): number {
  const number = Number(value);
  if (!WHOLE.test(value) || !Number.isSafeInteger(number) || number < 1) throw new InvalidArgumentError('expected a whole number of at least 1');
  return number;
}

/** A TCP port, 1–65535. */
export function port(value: string): number {
  const number = Number(value);
  if (!WHOLE.test(value) || number < 1 || number > 65535) throw new InvalidArgumentError('expected a port number from 1 to 65535');
  return number;
}

/** A number of seconds ≥ 0, decimals allowed (`--timeout 2.5`). */
export function seconds(value: string): number {
  const number = Number(value);
  if (!DECIMAL.test(value) || !Number.isFinite(number)) throw new InvalidArgumentError('expected a number of seconds');
  return number;
}

/** A whole number of seconds ≥ 0. */
export function wholeSeconds(value: string): number {
  const number = seconds(value);
  if (!Number.isSafeInteger(number)) throw new InvalidArgumentError('expected a whole number of seconds');
  return number;
}

/** `--schema NAME`: a name authdb accepts (see checkSchemaName). */
export function schemaName(value: string): string {
  try {
    return checkSchemaName(value);
  } catch (error) {
    if (error instanceof SchemaNameError) throw new InvalidArgumentError(error.message);
    throw error;
  }
}

/**
 * The library names its options as in code (`leewaySeconds`, in backticks, as in its messages);
 * the CLI's flags for them. asFlags puts the flags into a library message or hint.
 */
export const OPTION_FLAGS: Readonly<Record<string, string>> = {
  audiences: '--audience',
  algorithms: '--algorithms',
  leewaySeconds: '--leeway',
  subjectPrefix: '--subject-prefix',
  sharedSubjects: '--shared-subjects',
  maxRsaBits: '--max-rsa-bits',
  maxKeys: '--max-keys',
  maxTokenAgeSeconds: '--max-token-age',
  graceSeconds: '--grace',
  refreshMinSeconds: '--refresh-min',
  refreshMaxSeconds: '--refresh-max',
  discover: '--discover',
  issuer: '--issuer',
  jwksUrl: '--jwks-url',
  appRoles: '--app-role',
};

export function asFlags(text: string): string {
  return text.replace(/`([A-Za-z]+)`/g, (quoted, name: string) => OPTION_FLAGS[name] ?? quoted);
}

/** Collects a repeatable option's values. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/**
 * A `--before` TIME: an ISO 8601 date and time with its offset (`2025-06-01T12:00:00Z`,
 * `2025-06-01 14:00+02:00`), whole seconds since the epoch (as `iat` is written), or `now`.
 * A time without an offset is refused: it would mean another moment in another time zone.
 */
export function parseRevocationTime(text: string): Date | undefined {
  if (text === 'now') return undefined;
  if (/^\d{1,11}$/.test(text)) return new Date(Number(text) * 1000);
  const match = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)(Z|[+-]\d{2}(?::?\d{2})?)$/i.exec(text.trim());
  if (match) {
    const offset = match[3]!.toUpperCase() === 'Z' ? 'Z' : match[3]!.replace(/^([+-]\d{2}):?(\d{2})?$/, (_, hours: string, minutes?: string) => `${hours}:${minutes ?? '00'}`);
    const date = new Date(`${match[1]}T${match[2]}${offset}`);
    if (!Number.isNaN(date.getTime())) return date;
  }
  throw new InvalidSettingError(`--before expects a date and time with its offset, seconds since the epoch, or now; not ${JSON.stringify(printable(text))}`,
    'for example --before 2025-06-01T12:00:00Z or --before 1748779200');
}
