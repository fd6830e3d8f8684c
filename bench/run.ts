/**
 * Runs every benchmark in this folder (files named `*.bench.js` once built) one after another,
 * prints each result and writes them all to bench/RESULTS.md.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** A benchmark module exports `title` and `run()`, which returns a Markdown section body. */
export interface BenchModule {
  title: string;
  run(): Promise<string>;
}

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const only = process.argv.slice(2);
const files = fs
  .readdirSync(here)
  .filter((f) => f.endsWith('.bench.js'))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort();

const sections: string[] = [];
for (const file of files) {
  const mod = (await import(pathToFileURL(path.join(here, file)).href)) as BenchModule;
  process.stdout.write(`\n## ${mod.title}\n`);
  const body = await mod.run();
  process.stdout.write(body + '\n');
  sections.push(`## ${mod.title}\n\n${body}\n`);
}

const machine = `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${os.type()} ${os.release()}`;
const doc = `# Benchmark results\n\nMachine: ${machine}. Date: ${new Date().toISOString().slice(0, 10)}.\nReproduce: \`npm run bench\` (or \`npm run bench -- NAME\` for one).\n\n${sections.join('\n')}`;
if (only.length === 0) fs.writeFileSync(path.join(root, 'bench/RESULTS.md'), doc);
else process.stdout.write('\n(partial run: bench/RESULTS.md not rewritten)\n');
