// Policy expressions and function bodies as Postgres's own parser reads them: libpg-query is the
// server's parser compiled to WebAssembly (no native build, no install script). It is preferred to
// asking the planner (EXPLAIN under the request role): the planner merges every policy of a table
// into one filter, so a per-row call can no longer be traced to its policy, and it needs the role's
// privileges on the table. The parser reads each policy alone; a string literal, a comment or an
// unbalanced parenthesis in one is a token to it, never a call. It is loaded on first use only, so
// other commands do not pay for it.

type Parser = typeof import('libpg-query');
let parser: Promise<Parser> | undefined;

function load(): Promise<Parser> {
  parser ??= import('libpg-query');
  return parser;
}

/** The parse tree of one SQL expression, e.g. a policy's qual as pg_get_expr prints it. */
export async function parseExpression(expression: string): Promise<unknown> {
  const tree = await (await load()).parse(`SELECT ${expression}`);
  if (tree.stmts?.length !== 1) throw new Error(`not one expression: ${expression}`);
  return tree.stmts[0];
}

/** The text of `sql` without its comments: what Postgres would read of it. */
export async function withoutComments(sql: string): Promise<string> {
  try {
    const { tokens } = await (await load()).scan(sql);
    return tokens.filter((t) => t.tokenName !== 'SQL_COMMENT' && t.tokenName !== 'C_COMMENT').map((t) => t.text).join(' ');
  } catch {
    return sql; // a body the scanner cannot read is searched whole: a false alarm rather than a miss
  }
}

type Node = Record<string, unknown>;

function isNode(value: unknown): value is Node {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Each `{ Type: fields }` node under `value`, with the walk deciding whether to go below it. */
function eachNode(value: unknown, visit: (type: string, fields: Node) => boolean): void {
  if (Array.isArray(value)) {
    for (const item of value) eachNode(item, visit);
  } else if (isNode(value)) {
    for (const [key, child] of Object.entries(value)) {
      if (/^[A-Z]/.test(key) && isNode(child) && !visit(key, child)) continue;
      eachNode(child, visit);
    }
  }
}

/** `["auth", "user_id"]` for `auth.user_id`, `"auth"."user_id"`, … (the parser unquotes). */
function names(list: unknown): string[] {
  return Array.isArray(list) ? list.map((item) => (isNode(item) && isNode(item.String) ? String(item.String.sval ?? '') : '')) : [];
}

/** The names a FROM clause binds (aliases, else relation names), not those of its sub-selects. */
function boundNames(fromClause: unknown): Set<string> {
  const bound = new Set<string>();
  eachNode(fromClause, (type, fields) => {
    if (type === 'SelectStmt') return false;
    if (type === 'Alias') bound.add(String(fields.aliasname));
    if (type === 'RangeVar' && !isNode(fields.alias)) bound.add(String(fields.relname));
    return true;
  });
  return bound;
}

/**
 * The column references in `tree` that no FROM clause inside it binds: the qualifiers of the outer
 * columns a sub-select reads ('' for an unqualified one). Inside a sub-select, pg_get_expr qualifies
 * every column, the policy's own table's by the table's name.
 */
function outerReferences(tree: unknown): string[] {
  const outer: string[] = [];
  eachNode(tree, (type, fields) => {
    if (type === 'ColumnRef') {
      const parts = names(fields.fields);
      outer.push(parts.length >= 2 ? parts[parts.length - 2]! : '');
      return false;
    }
    if (type === 'SelectStmt' && Array.isArray(fields.fromClause) && fields.fromClause.length > 0) {
      const bound = boundNames(fields.fromClause);
      outer.push(...outerReferences(Object.values(fields)).filter((name) => name !== '' && !bound.has(name)));
      return false;
    }
    return true;
  });
  return outer;
}

/**
 * The functions of `schema` that `tree` calls once per row. A call runs once per statement only
 * inside a sub-select `(SELECT …)` that has no FROM clause of its own and reads no outer column:
 * Postgres runs that as an InitPlan. A correlated one, like Drizzle's `(select auth.user_id() =
 * user_id)`, is a SubPlan run per row; under a FROM clause a call runs per row of that FROM.
 */
export function callsPerRow(tree: unknown, schema: string): string[] {
  const calls = new Set<string>();
  const walk = (value: unknown, perRow: boolean): void =>
    eachNode(value, (type, fields) => {
      if (type === 'FuncCall') {
        const name = names(fields.funcname);
        if (perRow && name.length >= 2 && name[name.length - 2] === schema) calls.add(`${schema}.${name[name.length - 1]}()`);
      } else if (type === 'SubLink') {
        walk(fields.testexpr, perRow);
        walk(fields.subselect, outerReferences(fields.subselect).length > 0);
        return false;
      } else if (type === 'SelectStmt' && Array.isArray(fields.fromClause) && fields.fromClause.length > 0) {
        walk(Object.values(fields), true);
        return false;
      }
      return true;
    });
  walk(tree, true);
  return [...calls];
}

/** Every name and string constant in `tree`: identifiers, function names, literals. */
export function strings(tree: unknown): string[] {
  const found: string[] = [];
  const collect = (value: unknown): void => {
    if (Array.isArray(value)) value.forEach(collect);
    else if (isNode(value)) {
      for (const [key, child] of Object.entries(value)) {
        if ((key === 'sval' || key === 'relname' || key === 'aliasname') && typeof child === 'string') found.push(child);
        else collect(child);
      }
    }
  };
  collect(tree);
  return found;
}

/** True when `tree` reads a setting: current_setting(…) (in any schema) or the pg_settings view. */
export function readsSetting(tree: unknown): boolean {
  let reads = false;
  eachNode(tree, (type, fields) => {
    if (type === 'FuncCall' && names(fields.funcname).at(-1) === 'current_setting') reads = true;
    if (type === 'RangeVar' && fields.relname === 'pg_settings') reads = true;
    return !reads;
  });
  return reads;
}
