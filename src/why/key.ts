// `--key`: which row of the table, by primary key. A single-column key takes the bare value
// (`--key 42`) or `--key id=42`; a composite key takes one `--key column=value` per column. The
// values stay text: they reach the database as bind parameters, never spliced into SQL.
import type { ColumnFacts } from './catalog.js';
import { WhyError } from './errors.js';

export interface KeyPart {
  column: ColumnFacts;
  value: string;
}

export function parseKey(args: string[], table: string, primaryKey: ColumnFacts[]): KeyPart[] {
  if (primaryKey.length === 0) {
    throw new WhyError('no_primary_key', `${table} has no primary key, so --key cannot name a row`, 'leave out --key to count the rows each policy admits');
  }
  const names = primaryKey.map((column) => column.name).join(', ');
  const named = (arg: string): { column: ColumnFacts; value: string } | undefined => {
    const at = arg.indexOf('=');
    const column = at > 0 ? primaryKey.find((c) => c.name === arg.slice(0, at)) : undefined;
    return column ? { column, value: arg.slice(at + 1) } : undefined;
  };
  if (primaryKey.length === 1) {
    if (args.length !== 1) throw new WhyError('bad_key', `${table}'s primary key is one column (${names}): give --key once`);
    return [named(args[0]!) ?? { column: primaryKey[0]!, value: args[0]! }];
  }
  const parts = new Map<string, KeyPart>();
  for (const arg of args) {
    const part = named(arg);
    if (!part) throw new WhyError('bad_key', `--key ${arg}: ${table}'s primary key is (${names}): give --key COLUMN=VALUE for each`);
    if (parts.has(part.column.name)) throw new WhyError('bad_key', `--key names ${part.column.name} twice`);
    parts.set(part.column.name, part);
  }
  const missing = primaryKey.filter((column) => !parts.has(column.name)).map((column) => column.name);
  if (missing.length > 0) throw new WhyError('bad_key', `--key misses ${missing.join(', ')} of ${table}'s primary key (${names})`);
  return primaryKey.map((column) => parts.get(column.name)!);
}
