/**
 * The shape of src/ that the design promises, checked on the source itself: the format core
 * imports nothing of the layers above it, the folders import one another without a cycle, each
 * stack workaround's private access stays in its one module, errors thrown are SshcastErrors, and
 * the example server uses only the public API.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { root } from './cli/helpers.js';

const SRC = path.join(root, 'src');

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return p.endsWith('.ts') ? [p] : [];
  });
}

const FILES = sources(SRC).map((file) => ({
  file,
  rel: path.relative(SRC, file),
  text: fs.readFileSync(file, 'utf8'),
}));

/** `asciicast`, `ssh`, … or the file's own name for the files at the top of src/. */
function folder(rel: string): string {
  return rel.split(path.sep)[0]!;
}

/** The src/ files a file imports (relative imports only), as paths relative to src/. */
function imports(file: string, text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(
    /(?:import|export)\s[^'";]*?from\s+'(\.[^']+)'|import\s+'(\.[^']+)'/g,
  )) {
    const target = path.resolve(path.dirname(file), (m[1] ?? m[2])!).replace(/\.js$/, '.ts');
    const rel = path.relative(SRC, target);
    if (!rel.startsWith('..')) out.push(rel);
  }
  return out;
}

const EDGES = FILES.flatMap(({ file, rel, text }) =>
  imports(file, text).map((to) => ({ from: rel, to })),
);

describe('the structure of src/', () => {
  it('asciicast/ imports only itself and errors.ts: the format core knows no recording', () => {
    const out = EDGES.filter((e) => folder(e.from) === 'asciicast' && folder(e.to) !== 'asciicast');
    expect(out.map((e) => e.to).every((to) => to === 'errors.ts')).toBe(true);
  });

  it('the folders of src/ import one another without a cycle', () => {
    const graph = new Map<string, Set<string>>();
    for (const { from, to } of EDGES) {
      const a = folder(from);
      const b = folder(to);
      if (a === b) continue;
      if (!graph.has(a)) graph.set(a, new Set());
      graph.get(a)!.add(b);
    }
    const cycles: string[] = [];
    const visit = (node: string, trail: string[]) => {
      if (trail.includes(node)) {
        cycles.push([...trail.slice(trail.indexOf(node)), node].join(' -> '));
        return;
      }
      for (const next of graph.get(node) ?? []) visit(next, [...trail, node]);
    };
    for (const node of graph.keys()) visit(node, []);
    expect(cycles).toEqual([]);
  });

  it('the session process does not need recording/ for its stream type', () => {
    expect(
      EDGES.filter((e) => e.from === 'ssh/process.ts' && folder(e.to) === 'recording'),
    ).toEqual([]);
  });

  it('node-pty is used by src/pty/ only, and its private fields by pty/internals.ts only', () => {
    const users = FILES.filter((f) => /from 'node-pty'/.test(f.text)).map((f) => f.rel);
    expect(users.every((rel) => folder(rel) === 'pty')).toBe(true);
    const privy = FILES.filter((f) => /\b_socket\b|\b_fd\b|\bptsName\b|\b_pty\b/.test(f.text));
    expect(privy.map((f) => f.rel)).toEqual([path.join('pty', 'internals.ts')]);
  });

  it("ssh2's private fields are used by ssh/connection.ts only", () => {
    const privy = FILES.filter((f) => /\b_sock\b|\.emit = /.test(f.text));
    expect(privy.map((f) => f.rel)).toEqual([path.join('ssh', 'connection.ts')]);
  });

  it('errors thrown are SshcastErrors (but for internal causes, the browser page, and ssh2 reproduced)', () => {
    const allowed = new Set(
      [
        'recording/file-sink.ts', // a short write: the cause of the SinkWriteError emitted
        'recording/sync-file-sink.ts', // the same
        'ssh/keys-as-user.ts', // errno errors as node:fs throws them, for the loader to report
        'testing/fake-server-channel.ts', // ssh2's own errors, as ssh2 throws them
      ].map((p) => p.split('/').join(path.sep)),
    );
    const plain = FILES.filter(
      (f) =>
        /new Error\(|extends Error\b/.test(f.text) &&
        !f.rel.startsWith(path.join('web', 'client')) &&
        f.rel !== 'errors.ts' &&
        !allowed.has(f.rel),
    ).map((f) => f.rel);
    expect(plain).toEqual([path.join('ssh', 'authorized-keys.ts')]); // LineError: never leaves the parser
  });

  it('every log line goes through escapingLogger: no module takes a log option raw', () => {
    const code = (text: string) => text.replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
    // A `log` option used as given (`options.log ?? …`, `options.log(…)`), or the stderr default
    // called past the escaping wrapper, would let a user's text reach the log raw.
    const raw = FILES.filter(
      (f) =>
        f.rel !== 'log.ts' &&
        /\blog\s*\?\?|\.log\s*\?\.?\(|\.log\(|\bdefaultLog\b/.test(
          code(f.text).replace(/console\.log\(/g, ''),
        ),
    ).map((f) => f.rel);
    expect(raw).toEqual([]);
    // Each module with a `log` option resolves it through escapingLogger.
    const takers = FILES.filter((f) => /\blog\?: Logger/.test(f.text)).map((f) => f.rel);
    expect(takers.length).toBeGreaterThan(3);
    for (const rel of takers) {
      const text = FILES.find((f) => f.rel === rel)!.text;
      expect(/escapingLogger\(/.test(text), `${rel} resolves its log through escapingLogger`).toBe(
        true,
      );
    }
  });

  it('the examples import only the public API', () => {
    for (const file of sources(path.join(root, 'examples'))) {
      const text = fs.readFileSync(file, 'utf8');
      for (const m of text.matchAll(/from\s+'([^']+)'/g)) {
        const spec = m[1]!;
        const ok =
          spec.startsWith('node:') ||
          ['ssh2', 'vitest', 'sshcast', 'sshcast/testing', 'sshcast/testing/vitest'].includes(
            spec,
          ) ||
          spec === '../src/index.js' ||
          (spec.startsWith('./') && !spec.includes('src/'));
        expect(ok, `${path.relative(root, file)} imports ${spec}`).toBe(true);
      }
    }
  });
});
