/**
 * docs/api.md against the code: each entry point's table lists exactly the names it exports, with
 * their kinds, and the error-code table lists exactly SshcastErrorCode's members. Adding an
 * export without documenting it (or removing one that is documented) fails here.
 */
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { root } from '../cli/helpers.js';

const DOC = fs.readFileSync(path.join(root, 'docs/api.md'), 'utf8');

/** The table rows under the heading `## title`: first cell (backticks removed) → second cell. */
function table(title: string): Map<string, string> {
  const start = DOC.indexOf(`\n## ${title}\n`);
  expect(start, `docs/api.md has a section "## ${title}"`).not.toBe(-1);
  const end = DOC.indexOf('\n## ', start + 1);
  const rows = new Map<string, string>();
  for (const line of DOC.slice(start, end === -1 ? undefined : end).split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    if (cells.length < 4 || !cells[1]!.startsWith('`')) continue;
    rows.set(cells[1]!.replace(/`/g, ''), cells[2]!);
  }
  return rows;
}

const ENTRIES = {
  '`sshcast`': 'src/index.ts',
  '`sshcast/testing`': 'src/testing/index.ts',
  '`sshcast/testing/vitest`': 'src/testing/vitest.ts',
};

const program = ts.createProgram(
  Object.values(ENTRIES).map((f) => path.join(root, f)),
  {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    strict: true,
    noEmit: true,
    types: ['node'],
  },
);
const checker = program.getTypeChecker();

function kindOf(declaration: ts.Declaration | undefined): string {
  if (!declaration) return 'unknown';
  if (ts.isFunctionDeclaration(declaration)) return 'function';
  if (ts.isClassDeclaration(declaration)) return 'class';
  if (ts.isInterfaceDeclaration(declaration)) return 'interface';
  if (ts.isTypeAliasDeclaration(declaration)) return 'type';
  if (ts.isVariableDeclaration(declaration)) return 'const';
  return ts.SyntaxKind[declaration.kind];
}

/** Each export of a module and its kind. */
function exportsOf(file: string): Map<string, string> {
  const source = program.getSourceFile(path.join(root, file))!;
  const out = new Map<string, string>();
  for (const e of checker.getExportsOfModule(checker.getSymbolAtLocation(source)!)) {
    const symbol = e.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(e) : e;
    out.set(e.name, kindOf(symbol.declarations?.[0]));
  }
  return out;
}

describe('docs/api.md', () => {
  for (const [title, file] of Object.entries(ENTRIES)) {
    it(`${title}: one row per export, with its kind`, () => {
      const documented = table(title);
      const exported = exportsOf(file);
      expect([...documented.keys()].sort()).toEqual([...exported.keys()].sort());
      for (const [name, kind] of exported) expect(documented.get(name), name).toBe(kind);
    });
  }

  it('the error table lists every SshcastErrorCode', () => {
    const errors = program.getSourceFile(path.join(root, 'src/errors.ts'))!;
    let codes: string[] = [];
    errors.forEachChild((node) => {
      if (ts.isTypeAliasDeclaration(node) && node.name.text === 'SshcastErrorCode') {
        const type = checker.getTypeAtLocation(node);
        codes = (type.isUnion() ? type.types : [type]).map((t) =>
          String((t as ts.StringLiteralType).value),
        );
      }
    });
    expect(codes.length).toBeGreaterThan(0);
    expect([...table('Errors').keys()].sort()).toEqual(codes.sort());
  });
});
