// node:crypto's generateKeyPairSync, made safe to use at once. On Node 20 the call leaves behind
// its internal key-generation job, whose destructor locks the new key; when the garbage collector
// destroys that job while the same thread holds the key's lock (exporting it as a JWK, for one,
// which allocates), the process deadlocks for good (`KeyObject.export({ format: 'jwk' })` waiting
// in `~KeyGenJob`). A full collection right after the generation destroys the job while nothing
// holds the key. `npm run bench` hung so about one run in five before this.
import { generateKeyPairSync } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let collectGarbage: (() => void) | undefined;

function collect(): void {
  if (!collectGarbage) {
    setFlagsFromString('--expose-gc');
    collectGarbage = runInNewContext('gc') as () => void;
  }
  collectGarbage();
}

/** generateKeyPairSync, followed by the collection that makes the pair safe to export or sign with. */
export const newKeyPairSync = ((...args: unknown[]) => {
  const pair = (generateKeyPairSync as (...parameters: unknown[]) => unknown)(...args);
  collect();
  return pair;
}) as typeof generateKeyPairSync;
