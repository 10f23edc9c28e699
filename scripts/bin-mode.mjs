// tsc writes dist/cli/authdb.js without the executable bit; `npx authdb` in a clone runs that file
// directly (an installed package gets the bit from npm), so the build sets it.
import { chmodSync } from 'node:fs';

chmodSync(new URL('../dist/cli/authdb.js', import.meta.url), 0o755);
