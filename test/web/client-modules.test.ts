/**
 * The replay page's modules as the server finds them: every import followed, each served where
 * the browser will ask for it, and nothing a browser cannot load.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLIENT_ENTRY, loadClientModules } from '../../src/web/client-modules.js';
import { root } from '../cli/helpers.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sshcast-client-modules-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function tree(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(tmp, 'src-'));
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

describe('the replay page modules', () => {
  it('the built page: the entry and everything it imports, none of it Node', () => {
    const modules = loadClientModules(path.join(root, 'dist/src'));
    expect(modules.has(CLIENT_ENTRY)).toBe(true);
    expect(modules.has('/assets/asciicast/parser.js')).toBe(true);
    expect(modules.has('/assets/text/units.js')).toBe(true);
    for (const [urlPath, body] of modules) {
      const text = body.toString();
      expect(text, urlPath).not.toMatch(/from\s+['"]node:/);
      // Every relative import resolves to a module that is served too.
      for (const m of text.matchAll(/from\s+['"](\.[^'"]+)['"]/g)) {
        const target = new URL(m[1]!, `http://x${urlPath}`).pathname;
        expect(modules.has(target), `${urlPath} -> ${m[1]}`).toBe(true);
      }
    }
  });

  it('follows imports and re-exports, once each', () => {
    const dir = tree({
      'web/client/app.js': "import { a } from './a.js';\nimport '../../b.js';\n",
      'web/client/a.js': "export { b } from '../../b.js';\nexport const a = 1;\n",
      'b.js': 'export const b = 2;\n',
    });
    expect([...loadClientModules(dir).keys()].sort()).toEqual([
      '/assets/b.js',
      '/assets/web/client/a.js',
      '/assets/web/client/app.js',
    ]);
  });

  it('refuses an import a browser cannot load: a Node builtin, a package, outside the tree', () => {
    for (const spec of ['node:fs', 'ssh2', '../../../outside.js']) {
      const dir = tree({ 'web/client/app.js': `import x from '${spec}';\n` });
      expect(() => loadClientModules(dir)).toThrow(/a browser cannot load/);
    }
  });
});
