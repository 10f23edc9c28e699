#!/usr/bin/env node
// authdb: JWT verification inside Postgres. This file only wires commander to src/.
import { Command } from 'commander';
import { packageVersion } from '../src/sources.js';
import { commandModules } from './commands/index.js';

const program = new Command()
  .name('authdb')
  .description('JWT verification inside Postgres, so row-level security can trust auth.user_id()')
  .version(packageVersion())
  .option('--database-url <url>', 'Postgres connection string (default: DATABASE_URL, then the PG* variables)')
  .option('--json', 'machine-readable output on stdout')
  .showHelpAfterError('(run with --help for usage)')
  .addHelpText('after', '\nStart here:\n  authdb dev              a local Postgres with authdb installed, a dev issuer and tokens\n  authdb migrate --help   install authdb into your own database');

for (const register of commandModules) register(program);

await program.parseAsync(process.argv);
