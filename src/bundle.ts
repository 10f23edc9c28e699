// `authdb bundle`: the SQL that `authdb migrate` installs, packaged for the other ways to install
// it: a Postgres extension, a pg_tle registration script, or one idempotent SQL file. Every
// format is generated from the same sources (sql/migrations, sql/functions, sql/releases.json).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { extensionBundle, EXTENSION_NAME, type BundleFile } from './bundle/extension.js';
import { pgTleScript } from './bundle/pgtle.js';
import { packageSources, type BundleSources } from './bundle/releases.js';
import { sqlFileScript } from './bundle/sql-file.js';

export { extensionBundle, installScript, updateScript, controlFile, EXTENSION_NAME, type BundleFile } from './bundle/extension.js';
export { pgTleScript } from './bundle/pgtle.js';
export { sqlFileScript } from './bundle/sql-file.js';
export { packageSources, parseReleases, type BundleSources, type Release } from './bundle/releases.js';

export const BUNDLE_FORMATS = ['extension', 'pg_tle', 'sql'] as const;
export type BundleFormat = (typeof BUNDLE_FORMATS)[number];

export function isBundleFormat(value: string): value is BundleFormat {
  return (BUNDLE_FORMATS as readonly string[]).includes(value);
}

/** The files of one format, built from `sources` (default: this package's). */
export function bundleFiles(format: BundleFormat, sources: BundleSources = packageSources()): BundleFile[] {
  switch (format) {
    case 'extension':
      return extensionBundle(sources);
    case 'pg_tle':
      return [{ name: `${EXTENSION_NAME}--${sources.version}.pg_tle.sql`, content: pgTleScript(sources) }];
    case 'sql':
      return [{ name: `${EXTENSION_NAME}--${sources.version}.install.sql`, content: sqlFileScript(sources) }];
  }
}

export interface BundleResult {
  format: BundleFormat;
  version: string;
  outDir: string;
  files: { name: string; path: string; bytes: number }[];
}

/** Writes one format's files into `outDir` (created when missing; files of the same name are replaced). */
export function writeBundle(format: BundleFormat, outDir: string, sources: BundleSources = packageSources()): BundleResult {
  const files = bundleFiles(format, sources);
  mkdirSync(outDir, { recursive: true });
  return {
    format,
    version: sources.version,
    outDir,
    files: files.map((file) => {
      const path = join(outDir, file.name);
      writeFileSync(path, file.content);
      return { name: file.name, path, bytes: Buffer.byteLength(file.content) };
    }),
  };
}
