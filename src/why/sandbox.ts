// Where `authdb why` runs policy expressions: as `authenticated`, never with the rights of the
// admin who runs the command (docs/security.md, "`authdb why`").
//
// A policy's expressions, and the functions they call, are written by the table's owner, who may
// be any login; `authdb why` is run by a superuser or the auth schema's owner. So:
//
// 1. The rows are copied, as the admin, into a temporary table: `INSERT INTO pg_temp.… SELECT *
//    FROM the table WHERE key`. Reading runs none of the owner's code: no triggers fire on SELECT,
//    equal types need no coercion (so no domain CHECK runs), and the key is compared with the
//    server's own `=` on built-in types, or on the type's output text otherwise (a user-defined
//    type's `=` or cast could be the owner's function). `row_security = off` makes a read that RLS
//    would filter fail loudly instead of answering for a subset of the rows. Policies cannot be
//    switched off one by one on the real table, which is why each is tested against this copy.
// 2. Expressions run inside a SECURITY DEFINER function owned by `authenticated`: its
//    current_user is `authenticated`, and inside a SECURITY DEFINER function Postgres refuses SET
//    ROLE, RESET ROLE and SET SESSION AUTHORIZATION. A plain `SET ROLE authenticated` alone is not
//    a boundary: code running after it could RESET ROLE back to the superuser session user.
//    The caller's own statements run under `SET LOCAL ROLE authenticated` too.
// 3. Each evaluation runs in a savepoint that is always rolled back: whatever the owner's code
//    wrote, created, replaced (the evaluating function included: `authenticated` owns it) or set
//    (search_path, …) is undone before the next statement; the whole transaction is rolled back.
// 4. The expressions are deparsed and evaluated under the pinned search_path (pg_catalog,
//    pg_temp), so every name they hold means what it meant to the policy; key values are bind
//    parameters.
import type pg from 'pg';
import { TARGET_ROLE, type TableFacts } from './catalog.js';
import { WhyError } from './errors.js';
import type { KeyPart } from './key.js';

const ROWS = 'pg_temp.authdb_why_rows';
const EVALUATE = 'pg_temp.authdb_why_count';

export const quoteIdent = (name: string): string => `"${name.replace(/"/g, '""')}"`;

export interface Sandbox {
  /** Rows copied: the one named by --key, or the whole table. */
  rows: number;
  /** How many of the copied rows `expression` is true for, evaluated as authenticated; or the error it raised. */
  count(expression: string): Promise<{ admitted: number } | { error: string }>;
}

function keyCondition(key: KeyPart[]): string {
  return key
    .map(({ column }, i) =>
      column.builtinType
        ? `t.${quoteIdent(column.name)} OPERATOR(pg_catalog.=) $${i + 1}::${column.type}`
        : `pg_catalog.format('%s', t.${quoteIdent(column.name)}) OPERATOR(pg_catalog.=) $${i + 1}::pg_catalog.text`,
    )
    .join(' AND ');
}

/** Prepares the sandbox inside the caller's transaction (which must be rolled back afterwards). */
export async function openSandbox(client: pg.ClientBase, table: TableFacts, key: KeyPart[] | undefined): Promise<Sandbox> {
  await client.query("SELECT pg_catalog.set_config('row_security', 'off', true)");
  await client.query(`CREATE TEMPORARY TABLE authdb_why_rows (LIKE ${table.name})`);
  let rows: number;
  try {
    const where = key ? `WHERE ${keyCondition(key)}` : '';
    rows = (await client.query(`INSERT INTO ${ROWS} SELECT t.* FROM ${table.name} AS t ${where}`, key?.map((part) => part.value) ?? [])).rowCount ?? 0;
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === '42501') {
      throw new WhyError('cannot_read_table', `cannot read ${table.name} past its policies: ${(error as Error).message}`,
        'run authdb why as a superuser, the table\'s owner, or a role with BYPASSRLS and SELECT on the table');
    }
    if (code === '22P02' || code === '22003' || code === '22007' || code === '22008') {
      throw new WhyError('bad_key', `--key: ${(error as Error).message}`);
    }
    throw error;
  }
  await client.query(`GRANT SELECT ON ${ROWS} TO ${TARGET_ROLE}`);
  await client.query(`
    CREATE FUNCTION ${EVALUATE}(p_sql pg_catalog.text) RETURNS pg_catalog.int8
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS $$
    DECLARE
      v_admitted pg_catalog.int8;
    BEGIN
      EXECUTE p_sql INTO v_admitted;
      RETURN v_admitted;
    END
    $$`);
  try {
    await client.query(`ALTER FUNCTION ${EVALUATE}(pg_catalog.text) OWNER TO ${TARGET_ROLE}`);
  } catch (error) {
    throw new WhyError('cannot_sandbox', `cannot evaluate policies as ${TARGET_ROLE}: ${(error as Error).message}`,
      `run authdb why as a superuser, or as a role that is a member of ${TARGET_ROLE} and may create temporary objects`);
  }
  await client.query(`SET LOCAL ROLE ${TARGET_ROLE}`);
  const alias = quoteIdent(table.relname);
  return {
    rows,
    async count(expression) {
      const sql = `SELECT pg_catalog.count(*) FILTER (WHERE (${expression})) FROM ${ROWS} AS ${alias}`;
      await client.query('SAVEPOINT authdb_why');
      try {
        const { rows: result } = await client.query<{ admitted: string }>(`SELECT ${EVALUATE}($1) AS admitted`, [sql]);
        return { admitted: Number(result[0]!.admitted) };
      } catch (error) {
        return { error: (error as Error).message };
      } finally {
        await client.query('ROLLBACK TO SAVEPOINT authdb_why');
        await client.query('RELEASE SAVEPOINT authdb_why');
      }
    },
  };
}
