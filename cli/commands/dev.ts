import type { Command } from 'commander';
import { startDev } from '../../src/dev.js';
import { action, globalOptions, printJson, printLine, progress } from '../output.js';

const DEFAULT_DIR = '.authdb';
const DEFAULT_PORT = 54329;

export function registerDev(program: Command): void {
  program
    .command('dev')
    .description('start an embedded Postgres under .authdb/, migrate it, register a dev issuer, print a token')
    .option('--dir <dir>', 'where the embedded cluster and the dev issuer key live', DEFAULT_DIR)
    .option('--port <port>', 'port on 127.0.0.1', (value) => Number(value), DEFAULT_PORT)
    .option('--sub <sub>', 'the subject of the printed token', 'alice')
    .addHelpText('after', '\nKeeps running until Ctrl-C, then stops the database cleanly; data stays in --dir.')
    .action(
      action(async (commandOptions: { dir: string; port: number; sub: string }, command: Command) => {
        const options = globalOptions(command);
        const dev = await startDev({ dir: commandOptions.dir, port: commandOptions.port, onProgress: progress });
        const token = await dev.mint({ sub: commandOptions.sub });
        if (options.json) printJson({ databaseUrl: dev.databaseUrl, token, sub: commandOptions.sub });
        else {
          printLine(`DATABASE_URL=${dev.databaseUrl}`);
          printLine(`token for ${commandOptions.sub} (valid 1 h):`);
          printLine(token);
          printLine();
          printLine('Press Ctrl-C to stop.');
        }
        await new Promise<void>((resolve) => {
          process.once('SIGINT', resolve);
          process.once('SIGTERM', resolve);
        });
        progress('stopping Postgres');
        await dev.server.stop();
      }),
    );
}
