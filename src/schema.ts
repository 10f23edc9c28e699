// The schema authdb installs into: `auth` by default, another name where `auth` is taken (Supabase's
// own auth schema, pg_session_jwt's). The SQL sources and the library's queries are written with
// `auth.`; `qualify` is the one place that puts the chosen schema in their place.
import type pg from 'pg';
import { AuthdbError } from './errors.js';

export const DEFAULT_SCHEMA = 'auth';

/** A schema name authdb refuses: the CLI reports it as a usage error (exit 2). */
export class SchemaNameError extends AuthdbError {
  constructor(message: string) {
    super('invalid_schema_name', message, { hint: 'a schema name is 1 to 40 lowercase letters, digits and _, not a keyword, public or pg_*' });
  }
}

// Postgres's keywords that are not "unreserved" (pg_get_keywords() catcode R, C or T, 14 to 17):
// as a schema name each would need quoting. test/schema.coexistence.test.ts checks the server's list is inside.
const KEYWORDS = new Set(
  `all analyse analyze and any array as asc asymmetric authorization between bigint binary bit boolean both case cast
  char character check coalesce collate collation column concurrently constraint create cross current_catalog
  current_date current_role current_schema current_time current_timestamp current_user dec decimal default deferrable
  desc distinct do else end except exists extract false fetch float for foreign freeze from full grant greatest group
  grouping having ilike in initially inner inout int integer intersect interval into is isnull join json json_array
  json_arrayagg json_exists json_object json_objectagg json_query json_scalar json_serialize json_table json_value
  lateral leading least left like limit localtime localtimestamp merge_action national natural nchar none normalize
  not notnull null nullif numeric offset on only or order out outer overlaps overlay placing position precision primary
  real references returning right row select session_user setof similar smallint some substring symmetric system_user
  table tablesample then time timestamp to trailing treat trim true union unique user using values varchar variadic
  verbose when where window with xmlattributes xmlconcat xmlelement xmlexists xmlforest xmlnamespaces xmlparse xmlpi
  xmlroot xmlserialize xmltable`.split(/\s+/),
);

/**
 * Checks a schema name and returns it. Accepted: lowercase letters, digits and `_`, starting with
 * a letter or `_`, at most 40 characters (the bookkeeping table's name carries it), no SQL keyword,
 * nothing of Postgres's own (`pg_*`, `information_schema`) and not `public`, where any login may
 * have created objects. Such a name is its own quoted form (quote_ident(name) = name), so it reads
 * the same in SQL, in string literals and in messages.
 */
export function checkSchemaName(name: string): string {
  if (!/^[a-z_][a-z0-9_]{0,39}$/.test(name)) {
    throw new SchemaNameError(`invalid schema name ${JSON.stringify(name)}: use 1 to 40 lowercase letters, digits and _, starting with a letter`);
  }
  if (KEYWORDS.has(name)) throw new SchemaNameError(`invalid schema name ${JSON.stringify(name)}: it is an SQL keyword`);
  if (name.startsWith('pg_') || name === 'information_schema' || name === 'public') {
    throw new SchemaNameError(`invalid schema name ${JSON.stringify(name)}: it belongs to Postgres or to every login`);
  }
  return name;
}

// `auth.NAME` (a qualified name, also inside strings such as 'auth.installation'), `SCHEMA auth`,
// and the literal 'auth' of catalog lookups. `authdb.identity` (a setting) and `"auth".x` do not match.
const QUALIFIED = /(?<![\w."$])auth\.(?=[A-Za-z_])/g;
const SCHEMA_CLAUSE = /\b(SCHEMA\s+)auth\b(?![\w.])/gi;
const LITERAL = /'auth'/g;

/** `sql` with the schema in place of `auth`; unchanged for the default schema. */
export function qualify(sql: string, schema: string = DEFAULT_SCHEMA): string {
  if (schema === DEFAULT_SCHEMA) return sql;
  checkSchemaName(schema);
  return sql.replace(QUALIFIED, `${schema}.`).replace(SCHEMA_CLAUSE, `$1${schema}`).replace(LITERAL, `'${schema}'`);
}

/**
 * Fails loudly on a source file that names the schema in a form `qualify` would not rewrite (a
 * bare `auth` in a search_path, `"auth".x`, …): installed into another schema, it would still
 * reach `auth`, which there belongs to someone else. Comments and string literals may say anything.
 */
export function checkQualifiable(sql: string, file: string): void {
  const code = sql
    .replace(/--[^\n]*/g, (comment) => ' '.repeat(comment.length))
    .replace(/'(?:[^']|'')*'/g, (literal) => (/^'auth'$|^'auth\./.test(literal) ? "''" : literal.replace(/[^\n]/g, ' ')))
    .replace(QUALIFIED, 'x.')
    .replace(SCHEMA_CLAUSE, '$1x');
  const match = /(?<![\w$])"?auth"?(?![\w$])/i.exec(code);
  if (match) {
    const line = code.slice(0, match.index).split('\n').length;
    throw new Error(`${file}:${line}: "${match[0]}" names the schema in a form that a non-default schema would not replace; write auth.NAME, SCHEMA auth or 'auth'`);
  }
}

// ---- one client, one schema ------------------------------------------------------------------------

const views = new WeakMap<object, string>();

/**
 * A view of `client` on which every query authdb sends addresses `schema`: the query text goes
 * through `qualify` (parameters are never touched); `client` itself is left as it was. The CLI
 * hands such a view to the library; `withAuth` qualifies its own SQL instead.
 */
export function withSchema<C extends pg.ClientBase>(client: C, schema: string): C {
  checkSchemaName(schema);
  const current = views.get(client);
  if (current === schema || (current === undefined && schema === DEFAULT_SCHEMA)) return client;
  if (current !== undefined) throw new Error(`this client already addresses authdb schema ${current}`);
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  const qualifiedQuery = (first: unknown, ...rest: unknown[]) => {
    if (typeof first === 'string') return query(qualify(first, schema), ...rest);
    const config = first as { text?: unknown; submit?: unknown } | null;
    if (config && typeof config === 'object' && typeof config.text === 'string' && typeof config.submit !== 'function') {
      return query({ ...config, text: qualify(config.text, schema) }, ...rest);
    }
    return query(first, ...rest);
  };
  // Everything but query is the client's own, called on the client itself (end, events, state).
  const view = new Proxy(client, {
    get(target, property) {
      if (property === 'query') return qualifiedQuery;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  views.set(view, schema);
  return view;
}

/** The schema a view from withSchema addresses; undefined for any other client. */
export const boundSchema = (client: pg.ClientBase): string | undefined => views.get(client);

/** The schema a client (or a view from withSchema) addresses. */
export const schemaOf = (client: pg.ClientBase): string => views.get(client) ?? DEFAULT_SCHEMA;
