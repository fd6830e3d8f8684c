/**
 * The replay page's scripts, served as native ES modules: the compiled `client/app.js` and every
 * module it imports, found by following the relative imports from app.js once at start. Each is
 * served under /assets/ at its path below the package's compiled `src/` (app.js at
 * /assets/web/client/app.js imports ../../asciicast/parser.js, served at
 * /assets/asciicast/parser.js), so the browser resolves the imports as they were compiled. No
 * bundler: the page's few modules load in one round of requests. An import the browser could not
 * resolve (a package, a Node builtin) stops the server from starting rather than breaking the page.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SshcastError } from '../errors.js';

// What tsc emits for a static import or re-export, and for a bare side-effect import.
const IMPORT = /(?:^|[;\n])\s*(?:import|export)\s+(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]/g;

/** The URL path of the page's entry module. */
export const CLIENT_ENTRY = '/assets/web/client/app.js';

/** The compiled package's `src/`, where the page's modules are. */
const COMPILED_SRC = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

/**
 * Reads the page's module graph below `root` (the compiled `src/`): URL path → file contents.
 * Throws an SshcastError naming the module and its import when one imports something the browser
 * cannot load.
 */
export function loadClientModules(root: string = COMPILED_SRC): Map<string, Buffer> {
  const modules = new Map<string, Buffer>();
  const pending = [path.join(root, 'web/client/app.js')];
  while (pending.length > 0) {
    const file = pending.pop()!;
    const urlPath = `/assets/${path.relative(root, file).split(path.sep).join('/')}`;
    if (modules.has(urlPath)) continue;
    const body = fs.readFileSync(file);
    modules.set(urlPath, body);
    for (const m of body.toString('utf8').matchAll(IMPORT)) {
      const spec = m[1]!;
      const target = path.resolve(path.dirname(file), spec);
      if (!spec.startsWith('.') || !spec.endsWith('.js') || !target.startsWith(root + path.sep)) {
        throw new SshcastError(
          'ERR_WEB_ASSETS',
          `the replay page's ${urlPath} imports ${JSON.stringify(spec)}, which a browser cannot load`,
        );
      }
      pending.push(target);
    }
  }
  return modules;
}
