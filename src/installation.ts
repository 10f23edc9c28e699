// Which schema holds authdb in this database, found without being told: every command but the
// first `migrate` (and `migrate --schema NAME`) runs against the installation it finds here.
//
// docs/security.md §8, §9: any login with CREATE on the database can make a schema that looks like
// an installation. One counts only when its owner is the connected role, a role it was granted, a
// superuser, or the database's owner; an installation of anyone else is refused, never used.
import type pg from 'pg';
import { withClient } from './connection.js';
import { AuthdbError } from './errors.js';
import { checkSchemaName, DEFAULT_SCHEMA, withSchema } from './schema.js';

/** The comment migration 0001 (and every install path, which runs it) puts on the schema. */
export const SCHEMA_MARKER_PREFIX = 'authdb:';

export interface Installation {
  schema: string;
  owner: string;
  /** Whether its owner is one whose installation this role may use (see above). */
  trusted: boolean;
}

/** A failure to settle on one installation; the CLI prints it as one line with its hint. */
export class InstallationError extends AuthdbError {
  declare readonly code: 'ambiguous_installation' | 'untrusted_installation';
  declare readonly hint: string;

  constructor(code: 'ambiguous_installation' | 'untrusted_installation', message: string, hint: string) {
    super(code, message, { hint });
  }
}

/** Schemas carrying authdb's marker and its installation table, with whether this role may trust them. */
export const INSTALLATIONS_QUERY = `WITH RECURSIVE mine (oid) AS (
    SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = current_user
    UNION
    SELECT m.roleid FROM pg_catalog.pg_auth_members m JOIN mine ON m.member = mine.oid
  )
SELECT n.nspname AS schema,
       pg_catalog.pg_get_userbyid(n.nspowner) AS owner,
       (n.nspowner IN (SELECT oid FROM mine)
        OR (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.oid = n.nspowner)
        OR n.nspowner = (SELECT d.datdba FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database())) AS trusted
  FROM pg_catalog.pg_namespace n
 WHERE pg_catalog.starts_with(pg_catalog.obj_description(n.oid, 'pg_namespace'), '${SCHEMA_MARKER_PREFIX}')
   AND EXISTS (SELECT FROM pg_catalog.pg_class c
                WHERE c.relnamespace = n.oid AND c.relname = 'installation' AND c.relkind = 'r' AND c.relowner = n.nspowner)
 ORDER BY n.nspname`;

/** Every schema that looks like an authdb installation (trusted or not). Needs no search_path. */
export async function listInstallations(client: pg.ClientBase): Promise<Installation[]> {
  return (await client.query<Installation>(INSTALLATIONS_QUERY)).rows;
}

function refuse(installation: Installation): never {
  throw new InstallationError(
    'untrusted_installation',
    `refusing the authdb installation in schema ${installation.schema}: it belongs to role ${installation.owner}, which is neither this role, one of its roles, a superuser nor the database owner`,
    `connect as the role that installed authdb, or inspect schema ${installation.schema} and drop it if authdb did not create it`,
  );
}

/**
 * The schema to use: `explicit` when given (refused when someone untrusted owns an installation
 * there), else the one trusted installation, else the default `auth` (where nothing is installed
 * yet, commands fail as "not installed"). Two trusted installations need `--schema`.
 */
export async function resolveSchema(client: pg.ClientBase, explicit?: string): Promise<string> {
  const found = await listInstallations(client);
  if (explicit !== undefined) {
    checkSchemaName(explicit);
    const there = found.find((installation) => installation.schema === explicit);
    if (there && !there.trusted) refuse(there);
    return explicit;
  }
  const trusted = found.filter((installation) => installation.trusted);
  if (trusted.length === 1) return trusted[0]!.schema;
  if (trusted.length > 1) {
    throw new InstallationError(
      'ambiguous_installation',
      `this database has ${trusted.length} authdb installations (schemas ${trusted.map((i) => i.schema).join(', ')})`,
      `choose one with --schema ${trusted[0]!.schema}`,
    );
  }
  const untrusted = found.find((installation) => !installation.trusted);
  if (untrusted) refuse(untrusted);
  return DEFAULT_SCHEMA;
}

/** The client as a view on the installation resolveSchema finds (or `explicit`). */
export async function onInstallation<C extends pg.ClientBase>(client: C, explicit?: string): Promise<C> {
  return withSchema(client, await resolveSchema(client, explicit));
}

/** withClient, with the client as a view on the installation (see onInstallation). */
export async function withInstallation<T>(databaseUrl: string | undefined, schema: string | undefined, work: (client: pg.Client) => Promise<T>): Promise<T> {
  return withClient(databaseUrl, async (client) => work(await onInstallation(client, schema)));
}
