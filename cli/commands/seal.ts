import type { Command } from 'commander';
import { withInstallation } from '../../src/installation.js';
import { rotateSealSecret, SealRotationError } from '../../src/seal.js';
import { action, CommandFailure, globalOptions, printJson, printLine } from '../output.js';

export function registerSeal(program: Command): void {
  const seal = program
    .command('seal')
    .description('manage the sealing secret that protects identities and the verified-token cache');
  seal
    .command('rotate')
    .description('replace the sealing secret; every outstanding identity and cache entry stops verifying')
    .addHelpText(
      'after',
      `
The sealing secret signs what auth.init keeps in session settings (the identity and the
verified-token cache). Whoever holds a copy of it can forge an identity on this database.
Rotate it after a dump, backup, clone or branch of the database left your hands, and on any
suspicion. Installed with authdb migrate (or the SQL file), a pg_dump by the schema owner or a
superuser contains the secret; the extension and pg_tle installs leave it out of dumps.

After a rotation, identities sealed before read as no identity (auth.user_id() is NULL) until
the application calls auth.init again, and cached tokens are verified again once. Run it as the
owner of the auth schema.

Examples:
  authdb seal rotate
  authdb seal rotate --json`,
    )
    .action(
      action(async (_options: object, command: Command) => {
        const options = globalOptions(command);
        let rotation;
        try {
          rotation = await withInstallation(options.databaseUrl, options.schema, rotateSealSecret);
        } catch (error) {
          if (error instanceof SealRotationError) throw new CommandFailure(`${error.message} (${error.hint})`);
          throw error;
        }
        if (options.json) printJson({ rotated: true, generation: rotation.generation, rotatedAt: rotation.rotatedAt.toISOString() });
        else printLine(`sealing secret rotated (generation ${rotation.generation}): identities and cache entries sealed before no longer verify`);
      }),
    );
}
