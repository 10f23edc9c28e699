// The schema the suite installs authdb into: `auth`, or AUTHDB_TEST_SCHEMA (CI runs the install-path,
// identity, template and CLI files once with AUTHDB_TEST_SCHEMA=authdb). Tests write `auth.`; the
// test databases' pools qualify it as the library does (src/schema.ts), and the CLI finds the
// installation by itself.
import type pg from 'pg';
import { checkSchemaName, qualify } from '../../src/schema.js';

export const TEST_SCHEMA = checkSchemaName(process.env.AUTHDB_TEST_SCHEMA || 'auth');

/** Makes every query sent on `client` address TEST_SCHEMA (a no-op for `auth`). */
export function qualifyQueries<C extends pg.ClientBase>(client: C, schema: string = TEST_SCHEMA): C {
  if (schema === 'auth') return client;
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  (client as { query: unknown }).query = (first: unknown, ...rest: unknown[]) => {
    if (typeof first === 'string') return query(qualify(first, schema), ...rest);
    const config = first as { text?: unknown; submit?: unknown } | null;
    if (config && typeof config.text === 'string' && typeof config.submit !== 'function') return query({ ...config, text: qualify(config.text, schema) }, ...rest);
    return query(first, ...rest);
  };
  return client;
}
