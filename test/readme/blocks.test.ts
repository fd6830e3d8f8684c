import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { codeBlocks, commands } from './blocks.js';

const README = path.join(import.meta.dirname, '../../README.md');

describe('codeBlocks', () => {
  it('reads each block with what it is, and its commands without their comments', () => {
    const md = [
      '# t',
      '```js file=a.mjs',
      "console.log('```');",
      '```',
      '',
      '````sh run=project',
      'npm install x   # a comment',
      '',
      '# a whole-line comment',
      'echo "#no"',
      '````',
    ].join('\n');
    const [file, run] = codeBlocks(md);
    expect(file).toEqual({
      line: 2,
      lang: 'js',
      kind: { file: 'a.mjs' },
      body: "console.log('```');\n",
    });
    expect(run).toMatchObject({ line: 6, lang: 'sh', kind: { run: 'project' } });
    expect(commands(run!)).toEqual(['npm install x', 'echo "#no"']);
  });

  it('refuses a block that says neither what file it is nor where it runs', () => {
    const md = '```sh run=project\nls\n```\n\n```sh\nrm -rf /\n```\n\n```js file=../x\n1\n```\n';
    expect(() => codeBlocks(md)).toThrow(
      /so no test runs them\):\nREADME\.md:5: ```sh\nREADME\.md:9: ```js file=\.\.\/x$/,
    );
    expect(() => codeBlocks('```sh run=project\nls\n')).toThrow(
      /README\.md:1: code block never closed/,
    );
  });

  it('finds every block of the README marked (test/readme/readme.test.ts runs them)', () => {
    const blocks = codeBlocks(fs.readFileSync(README, 'utf8'));
    expect(blocks.length).toBeGreaterThanOrEqual(5);
    expect(blocks.filter((b) => 'file' in b.kind).map((b) => b.kind)).toEqual([
      { file: 'server.mjs' },
      { file: 'sshcast.pam' },
      { file: 'greeter.test.mjs' },
    ]);
  });

  it('shows the PAM file the package ships, rule for rule (examples/pam.d/sshcast)', () => {
    const block = codeBlocks(fs.readFileSync(README, 'utf8')).find(
      (b) => 'file' in b.kind && b.kind.file === 'sshcast.pam',
    );
    const rules = (text: string) =>
      text.split('\n').filter((l) => l.trim() !== '' && !l.trimStart().startsWith('#'));
    const shipped = fs.readFileSync(
      path.join(path.dirname(README), 'examples/pam.d/sshcast'),
      'utf8',
    );
    expect(rules(block!.body)).toEqual(rules(shipped));
    expect(rules(shipped).length).toBeGreaterThan(10);
  });
});
