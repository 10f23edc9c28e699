// Wycheproof vector files (C2SP/wycheproof, Apache-2.0), vendored unchanged in test/vectors/wycheproof
// (see the README and LICENSE there). The one loader of the suites: it checks each file as it
// reads it, so a vendored update that adds a verdict or drops tests fails loudly instead of
// being counted as "invalid".
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const VECTORS = fileURLToPath(new URL('../vectors/wycheproof/', import.meta.url));
const RESULTS = ['valid', 'invalid', 'acceptable'] as const;

export interface WycheproofTest {
  tcId: number;
  comment: string;
  flags: string[];
  result: (typeof RESULTS)[number];
  [field: string]: unknown;
}

export interface WycheproofGroup {
  tests: WycheproofTest[];
  [field: string]: unknown;
}

/** A vector file; `G` narrows the groups to the fields a suite reads. */
export interface WycheproofFile<G = WycheproofGroup> {
  algorithm: string;
  numberOfTests: number;
  testGroups: G[];
}

export function vectorsAvailable(): boolean {
  return existsSync(VECTORS);
}

/** Reads `file`; throws on a `result` other than valid/invalid/acceptable or a test count that disagrees. */
export function loadVectors<G extends { tests: WycheproofTest[] } = WycheproofGroup>(file: string): WycheproofFile<G> {
  const vectors = JSON.parse(readFileSync(`${VECTORS}${file}`, 'utf8')) as WycheproofFile<G>;
  let count = 0;
  for (const group of vectors.testGroups) {
    for (const test of group.tests) {
      if (!(RESULTS as readonly string[]).includes(test.result)) {
        throw new Error(`${file}: tcId ${test.tcId} has an unknown result ${JSON.stringify(test.result)}`);
      }
      count += 1;
    }
  }
  if (count !== vectors.numberOfTests) throw new Error(`${file}: ${count} tests, the header says ${vectors.numberOfTests}`);
  return vectors;
}

/** Wycheproof's verdict as authdb must give it: only "valid" verifies ("acceptable" counts as invalid). */
export const expectedVerdict = (test: WycheproofTest): boolean => test.result === 'valid';
