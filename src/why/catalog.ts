// What the catalog says about a table for `authdb why`: which table a name means, its row-level
// security state, its primary key, what `authenticated` was granted, and its policies as Postgres
// deparses them. Read on an admin connection whose search_path is pinned (docs/security.md §9):
// every query here calls catalog functions only, which run no code another login wrote.
import type pg from 'pg';
import { WhyError } from './errors.js';

/** The role the policies are explained for: the one applications switch to after auth.init. */
export const TARGET_ROLE = 'authenticated';

export const COMMANDS = ['select', 'insert', 'update', 'delete'] as const;
export type Command = (typeof COMMANDS)[number];

export interface TableFacts {
  oid: number;
  /** Schema-qualified, quoted where needed (regclass output under the pinned search_path). */
  name: string;
  /** The bare relation name, the alias policy expressions may use for the table's columns. */
  relname: string;
  owner: string;
  rowSecurity: boolean;
  forceRowSecurity: boolean;
  /** authenticated has the privileges of the table's owner: policies skip it unless FORCE. */
  targetOwnsTable: boolean;
  /** authenticated has BYPASSRLS: policies never apply to it. */
  targetBypassesRls: boolean;
  schemaUsage: boolean;
  columns: ColumnFacts[];
  /** The primary key's columns, in key order; empty without a primary key. */
  primaryKey: ColumnFacts[];
  /** Per command: whether authenticated holds the table privilege. */
  tablePrivileges: Record<Command, boolean>;
}

export interface ColumnFacts {
  name: string;
  type: string;
  /** The type lives in pg_catalog: its input function and `=` are the server's own. */
  builtinType: boolean;
  privileges: { select: boolean; insert: boolean; update: boolean };
}

export interface PolicyFacts {
  name: string;
  mode: 'permissive' | 'restrictive';
  /** FOR ALL is 'all'. */
  command: Command | 'all';
  /** Role names; 'public' for PUBLIC. */
  roles: string[];
  /** Whether the policy applies to authenticated (PUBLIC, authenticated, or a role it has the privileges of). */
  applies: boolean;
  using: string | null;
  withCheck: string | null;
}

/**
 * The table a command-line name means: `schema.table`, or a bare name that exactly one ordinary or
 * partitioned table in a user schema has (never resolved through search_path, which is pinned to
 * pg_catalog on admin connections). Quoted identifiers follow SQL's rules (parse_ident).
 */
export async function resolveTable(client: pg.ClientBase, name: string): Promise<number> {
  let parts: string[];
  try {
    parts = (await client.query<{ parts: string[] }>('SELECT pg_catalog.parse_ident($1) AS parts', [name])).rows[0]!.parts;
  } catch {
    throw new WhyError('bad_table', `"${name}" is not a table name (write table or schema.table)`);
  }
  if (parts.length > 2) throw new WhyError('bad_table', `"${name}" is not a table name (write table or schema.table)`);
  const { rows } = await client.query<{ oid: number; name: string }>(
    `SELECT c.oid::pg_catalog.int8 AS oid, c.oid::pg_catalog.regclass::pg_catalog.text AS name
       FROM pg_catalog.pg_class AS c
       JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
      WHERE c.relname OPERATOR(pg_catalog.=) $1
        AND c.relkind OPERATOR(pg_catalog.=) ANY ('{r,p}'::pg_catalog."char"[])
        AND CASE WHEN $2::pg_catalog.text IS NULL
                 THEN n.nspname OPERATOR(pg_catalog.<>) ALL ('{pg_catalog,information_schema,pg_toast}'::pg_catalog.name[])
                  AND n.nspname OPERATOR(pg_catalog.!~) '^pg_(toast_)?temp_'
                 ELSE n.nspname OPERATOR(pg_catalog.=) $2 END
      ORDER BY 2`,
    [parts[parts.length - 1], parts.length === 2 ? parts[0] : null],
  );
  if (rows.length === 0) throw new WhyError('unknown_table', `no table ${name} in this database`);
  if (rows.length > 1) {
    throw new WhyError('ambiguous_table', `${name} is ambiguous: ${rows.map((row) => row.name).join(', ')} (name the schema)`);
  }
  return Number(rows[0]!.oid);
}

export async function tableFacts(client: pg.ClientBase, oid: number): Promise<TableFacts> {
  const table = (
    await client.query(
      `SELECT c.oid::pg_catalog.regclass::pg_catalog.text AS name, c.relname, o.rolname AS owner
            , c.relrowsecurity AS row_security, c.relforcerowsecurity AS force_row_security
            , pg_catalog.pg_has_role($2, c.relowner, 'USAGE') AS target_owns
            , (SELECT r.rolbypassrls FROM pg_catalog.pg_roles AS r WHERE r.rolname OPERATOR(pg_catalog.=) $2) AS target_bypasses
            , pg_catalog.has_schema_privilege($2, c.relnamespace, 'USAGE') AS schema_usage
            , pg_catalog.has_table_privilege($2, c.oid, 'SELECT') AS select
            , pg_catalog.has_table_privilege($2, c.oid, 'INSERT') AS insert
            , pg_catalog.has_table_privilege($2, c.oid, 'UPDATE') AS update
            , pg_catalog.has_table_privilege($2, c.oid, 'DELETE') AS delete
         FROM pg_catalog.pg_class AS c
         JOIN pg_catalog.pg_roles AS o ON o.oid OPERATOR(pg_catalog.=) c.relowner
        WHERE c.oid OPERATOR(pg_catalog.=) $1::pg_catalog.oid`,
      [oid, TARGET_ROLE],
    )
  ).rows[0];
  const columns = (
    await client.query<{ name: string; type: string; builtin: boolean; select: boolean; insert: boolean; update: boolean; key_position: number | null }>(
      `SELECT a.attname AS name, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type
            , t.typnamespace OPERATOR(pg_catalog.=) 'pg_catalog'::pg_catalog.regnamespace AS builtin
            , pg_catalog.has_column_privilege($2, a.attrelid, a.attnum, 'SELECT') AS select
            , pg_catalog.has_column_privilege($2, a.attrelid, a.attnum, 'INSERT') AS insert
            , pg_catalog.has_column_privilege($2, a.attrelid, a.attnum, 'UPDATE') AS update
            , pg_catalog.array_position(i.indkey::pg_catalog.int2[], a.attnum) AS key_position
         FROM pg_catalog.pg_attribute AS a
         JOIN pg_catalog.pg_type AS t ON t.oid OPERATOR(pg_catalog.=) a.atttypid
         LEFT JOIN pg_catalog.pg_index AS i ON i.indrelid OPERATOR(pg_catalog.=) a.attrelid AND i.indisprimary
        WHERE a.attrelid OPERATOR(pg_catalog.=) $1::pg_catalog.oid AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped
        ORDER BY a.attnum`,
      [oid, TARGET_ROLE],
    )
  ).rows;
  const facts = columns.map((column) => ({
    name: column.name,
    type: column.type,
    builtinType: column.builtin,
    privileges: { select: column.select, insert: column.insert, update: column.update },
  }));
  const primaryKey = columns
    .map((column, i) => ({ position: column.key_position, facts: facts[i]! }))
    .filter((column) => column.position !== null)
    .sort((a, b) => a.position! - b.position!)
    .map((column) => column.facts);
  return {
    oid,
    name: table.name,
    relname: table.relname,
    owner: table.owner,
    rowSecurity: table.row_security,
    forceRowSecurity: table.force_row_security,
    targetOwnsTable: table.target_owns,
    targetBypassesRls: table.target_bypasses === true,
    schemaUsage: table.schema_usage,
    columns: facts,
    primaryKey,
    tablePrivileges: { select: table.select, insert: table.insert, update: table.update, delete: table.delete },
  };
}

const POLICY_COMMANDS: Record<string, Command | 'all'> = { '*': 'all', r: 'select', a: 'insert', w: 'update', d: 'delete' };

/**
 * The table's policies. The expressions are deparsed under the pinned search_path (pg_catalog,
 * pg_temp): everything outside pg_catalog comes out schema-qualified, so evaluating them under
 * that same search_path resolves every name to what the policy itself references.
 */
export async function tablePolicies(client: pg.ClientBase, oid: number): Promise<PolicyFacts[]> {
  const { rows } = await client.query(
    `SELECT p.polname AS name, p.polpermissive AS permissive, p.polcmd::pg_catalog.text AS command
          , CASE WHEN 0::pg_catalog.oid OPERATOR(pg_catalog.=) ANY (p.polroles) THEN '{public}'::pg_catalog.text[]
                 ELSE ARRAY(SELECT r.rolname::pg_catalog.text FROM pg_catalog.pg_roles AS r
                                        WHERE r.oid OPERATOR(pg_catalog.=) ANY (p.polroles) ORDER BY 1) END AS roles
          , (0::pg_catalog.oid OPERATOR(pg_catalog.=) ANY (p.polroles)
             OR EXISTS (SELECT FROM pg_catalog.unnest(p.polroles) AS r(oid)
                         WHERE pg_catalog.pg_has_role($2, r.oid, 'USAGE'))) AS applies
          , pg_catalog.pg_get_expr(p.polqual, p.polrelid) AS using
          , pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid) AS with_check
       FROM pg_catalog.pg_policy AS p
      WHERE p.polrelid OPERATOR(pg_catalog.=) $1::pg_catalog.oid
      ORDER BY p.polname`,
    [oid, TARGET_ROLE],
  );
  return rows.map((row) => ({
    name: row.name,
    mode: row.permissive ? 'permissive' : 'restrictive',
    command: POLICY_COMMANDS[row.command]!,
    roles: row.roles,
    applies: row.applies,
    using: row.using,
    withCheck: row.with_check,
  }));
}
