// Is authdb installed, at this package's version, with its functions as shipped?
import type { MigrateStatus } from '../migrate.js';
import { report, type DoctorContext } from './finding.js';

/** False when authdb is not installed at all: no other check makes sense then. */
export function checkInstall(context: DoctorContext, status: MigrateStatus): boolean {
  context.checked.push('install');
  if (status.installedVersion === null) {
    report(context, {
      check: 'install', code: 'not_installed', severity: 'problem',
      message: 'authdb is not installed in this database', fix: 'run `authdb migrate`',
    });
    return false;
  }
  if (status.installedVersion !== status.packageVersion) {
    report(context, {
      check: 'install', code: 'version_mismatch', severity: 'problem',
      message: `installed schema is ${status.installedVersion}, this authdb is ${status.packageVersion}`,
      fix: 'run `authdb migrate` with the authdb version your application uses',
    });
  }
  if (status.pending.length > 0) {
    report(context, {
      check: 'install', code: 'pending_migrations', severity: 'problem',
      message: `${status.pending.length} pending migration(s): ${status.pending.join(', ')}`,
      fix: 'run `authdb migrate`',
    });
  }
  if (!status.functionsCurrent) {
    report(context, {
      check: 'install', code: 'functions_modified', severity: 'problem',
      message: 'the installed auth functions differ from this package', fix: 'run `authdb migrate`',
    });
  }
  return true;
}
