import type { Command } from 'commander';
import pg from 'pg';
import { clientConfig } from '../../src/connection.js';
import { onInstallation, withInstallation } from '../../src/installation.js';
import { describeResult, printable, syncProviders, watchProviders, type SyncResult } from '../../src/sync.js';
import { action, CommandFailure, globalOptions, printJson, printLine, progress } from '../output.js';
import { seconds } from './provider.js';

interface SyncCommandOptions {
  provider?: string;
  force?: boolean;
  watch?: boolean;
  interval?: number;
  timeout?: number;
}

export function registerSync(program: Command): void {
  program
    .command('sync-jwks')
    .description('refresh provider keys from their JWKS URLs: those due, one (--provider) or all (--force)')
    .option('--provider <name>', 'only this provider, due or not')
    .option('--force', 'every provider, due or not, without conditional requests')
    .option('--watch', 'keep running and refresh each provider when it is due; stops on SIGINT/SIGTERM')
    .option('--interval <seconds>', 'with --watch: the longest sleep between checks (default 60)', seconds)
    .option('--timeout <seconds>', 'total time for each HTTP request (default 10)', seconds)
    .addHelpText(
      'after',
      `
A provider is due 30 to 60 s after its last sync (its refresh-min/refresh-max; a shorter
Cache-Control max-age or no-cache is honoured). Each refresh is a conditional request, so an
unchanged key set costs a 304, and a key the provider publishes verifies within a minute when
this runs every minute. Failures back off (up to 10 min); a 429/503 Retry-After is honoured.
Slow or retried requests print a progress line on stderr (not with --json).
After the providers, every run prunes revocations no unexpired token can match (authdb revocations prune).

Exit status: 0 when every provider synced; 1 when any failed (its keys stay exactly as they were).

Examples:
  authdb sync-jwks                            # cron: refresh what is due
  * * * * * DATABASE_URL=postgres://… authdb sync-jwks --json >> /var/log/authdb-sync.log
  authdb sync-jwks --provider auth0 --force
  authdb sync-jwks --watch                    # a long-running service instead of cron`,
    )
    .action(
      action(async (commandOptions: SyncCommandOptions, command: Command) => {
        const options = globalOptions(command);
        const fetch = {
          ...(commandOptions.timeout ? { timeoutMs: commandOptions.timeout * 1000 } : {}),
          // Slow fetches and retries are visible to a human, never mixed into --json.
          ...(options.json ? {} : { onProgress: progress }),
        };
        const report = (result: SyncResult) => {
          if (options.json) printLine(JSON.stringify(result));
          else (result.ok ? printLine : progress)(describeResult(result));
          if (!options.json) for (const skip of result.skipped) progress(printable(`warning: ${result.provider}: skipped key ${skip.kid ?? '(no kid)'}: ${skip.reason}`));
        };
        if (commandOptions.watch) {
          const controller = new AbortController();
          const stop = () => controller.abort();
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
          const config = clientConfig(options.databaseUrl);
          if (!options.json) progress('watching providers; Ctrl-C to stop');
          const summary = await watchProviders({
            intervalSeconds: commandOptions.interval,
            signal: controller.signal,
            fetch,
            onResult: report,
            onError: (message) => progress(`authdb: ${message}`),
            connect: async () => {
              const client = new pg.Client(config);
              await client.connect();
              return onInstallation(client, options.schema).catch(async (error: unknown) => {
                await client.end().catch(() => undefined);
                throw error;
              });
            },
          });
          if (!options.json) progress(`stopped after ${summary.rounds} round(s)`);
          return;
        }
        // A failure is told once, in the final line (one clear line for a failed single provider).
        const reportDone = (result: SyncResult) => (result.ok ? report(result) : undefined);
        const results = await withInstallation(options.databaseUrl, options.schema, (client) =>
          syncProviders(client, { provider: commandOptions.provider, force: commandOptions.force, fetch, onResult: options.json ? undefined : reportDone }),
        );
        if (options.json) printJson({ ok: results.every((result) => result.ok), providers: results });
        else if (results.length === 0) printLine('no provider is due');
        const failed = results.filter((result) => !result.ok);
        if (failed.length > 0) throw new CommandFailure(`${failed.length} of ${results.length} provider(s) failed: ${failed.map((f) => `${f.provider} (${f.error})`).join('; ')}`);
      }),
    );
}
