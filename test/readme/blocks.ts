/**
 * The code blocks of a Markdown file, and what each one is, from its info string:
 *
 * - ```` ```js file=server.mjs ````: a file of the reader's project, written as it is;
 * - ```` ```sh run=project ````: commands the reader types in that project;
 * - ```` ```sh run=checkout ````: commands typed in a checkout of this repository.
 *
 * A block with none of these is an error: no block of the README escapes its test.
 */

/** One fenced code block. */
export interface CodeBlock {
  /** The 1-based line of its opening fence. */
  line: number;
  /** The first word of the info string (`js`, `sh`). */
  lang: string;
  /** Where it goes: a file to write, or commands to run, and where. */
  kind: { file: string } | { run: 'project' | 'checkout' };
  /** Its text, ending with a newline. */
  body: string;
}

const FENCE = /^ {0,3}(`{3,}|~{3,})(.*)$/;

/** Every fenced block of `markdown`; throws, naming each, when a block is not marked. */
export function codeBlocks(markdown: string, source = 'README.md'): CodeBlock[] {
  const lines = markdown.split('\n');
  const blocks: CodeBlock[] = [];
  const unmarked: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE.exec(lines[i]!);
    if (!open) continue;
    const fence = open[1]!;
    const [lang = '', ...words] = open[2]!.trim().split(/\s+/);
    const attrs = Object.fromEntries(words.map((w) => w.split('=', 2) as [string, string]));
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length; i++) {
      const close = FENCE.exec(lines[i]!);
      if (
        close &&
        close[1]!.startsWith(fence[0]!) &&
        close[1]!.length >= fence.length &&
        !close[2]!.trim()
      )
        break;
      body.push(lines[i]!);
    }
    if (i === lines.length) throw new Error(`${source}:${start + 1}: code block never closed`);
    const run = attrs.run;
    const kind: CodeBlock['kind'] | undefined =
      attrs.file !== undefined && /^[\w.-]+$/.test(attrs.file)
        ? { file: attrs.file }
        : run === 'project' || run === 'checkout'
          ? { run }
          : undefined;
    if (!kind) {
      unmarked.push(`${source}:${start + 1}: \`\`\`${open[2]!.trim()}`);
      continue;
    }
    blocks.push({ line: start + 1, lang, kind, body: body.join('\n') + '\n' });
  }
  if (unmarked.length > 0)
    throw new Error(
      `code blocks with neither file=NAME nor run=project|checkout (so no test runs them):\n${unmarked.join('\n')}`,
    );
  return blocks;
}

/** A block's commands: one per line, comments and blank lines dropped. */
export function commands(block: CodeBlock): string[] {
  return block.body
    .split('\n')
    .map((l) => l.replace(/\s+#\s.*$/, '').trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}
