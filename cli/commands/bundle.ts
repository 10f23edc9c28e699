import { Option, type Command } from 'commander';
import { BUNDLE_FORMATS, bundleFiles, packageSources, writeBundle, type BundleFormat } from '../../src/bundle.js';
import { action, globalOptions, printJson, printLine } from '../output.js';

const EXAMPLES = `
Formats (all generated from the same SQL that \`authdb migrate\` applies):
  extension  authdb.control, authdb--VERSION.sql and authdb--OLD--VERSION.sql update scripts,
             for the server's extension directory ($(pg_config --sharedir)/extension)
  pg_tle     one script registering those same scripts with pg_tle (managed Postgres)
  sql        one idempotent SQL file for psql, Flyway or Sqitch; the database stays
             upgradable by \`authdb migrate\`

Examples:
  authdb bundle --format extension --out build/ext
  sudo cp build/ext/* "$(pg_config --sharedir)/extension/" && psql -c 'CREATE EXTENSION authdb'
  authdb bundle --format pg_tle --out build && psql -f build/authdb--*.pg_tle.sql
  authdb bundle --format sql --out - | psql -v ON_ERROR_STOP=1
  authdb bundle --format sql --schema authdb --out -   install into schema authdb (auth is taken)`;

export function registerBundle(program: Command): void {
  program
    .command('bundle')
    .description('write the auth schema as a Postgres extension, a pg_tle script or one SQL file (no database needed)')
    .addOption(new Option('--format <format>', 'what to write').choices(BUNDLE_FORMATS).makeOptionMandatory())
    .requiredOption('--out <dir>', 'folder to write into (created when missing); - prints a single-file format to stdout')
    .addHelpText('after', EXAMPLES)
    .action(
      action(async (commandOptions: { format: BundleFormat; out: string }, command: Command) => {
        const options = globalOptions(command);
        if (commandOptions.out === '-') {
          const files = bundleFiles(commandOptions.format, packageSources(options.schema));
          if (files.length !== 1) throw new Error(`--out - needs a single-file format; ${commandOptions.format} writes ${files.length} files`);
          process.stdout.write(files[0]!.content);
          return;
        }
        const result = writeBundle(commandOptions.format, commandOptions.out, packageSources(options.schema));
        if (options.json) return printJson(result);
        printLine(`authdb ${result.version} (${result.format}): wrote ${result.files.length} file(s) to ${result.outDir}`);
        for (const file of result.files) printLine(`  ${file.name}  ${file.bytes} bytes`);
      }),
    );
}
