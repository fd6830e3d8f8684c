/**
 * Where a worker thread's script is: the compiled module `worker` beside the calling module.
 * Threads run compiled JavaScript; under vitest the calling module is the TypeScript source in
 * `src/`, and the script is the build of its neighbour in `dist/src/` (`npm test` builds first).
 * The file may not exist (no build): callers check, and do the work on their own thread then.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export function workerScript(callerUrl: string, worker: string): string {
  const here = fileURLToPath(callerUrl);
  const dir = path.dirname(here);
  if (!here.endsWith('.ts')) return path.join(dir, worker);
  const d = dir + path.sep;
  const root = d.lastIndexOf(`${path.sep}src${path.sep}`);
  return path.join(d.slice(0, root), 'dist', d.slice(root + 1), worker);
}
