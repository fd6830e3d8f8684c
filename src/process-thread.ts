/**
 * A process-wide worker thread of one kind (the recording thread, the upload thread): started on
 * first use, held (keeping the process alive) only while its owner has work on it, and
 * restarted after it ends. Only a bug ends one: its owner fails what was in flight on it. A
 * thread that ends before its first message (its script does not load, threads cannot start)
 * is not started again: `get()` is undefined from then on, and the owner does the work on its
 * own thread.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

/**
 * Where a worker thread's script is: the compiled module `worker` beside the calling module.
 * Threads run compiled JavaScript; under vitest the calling module is the TypeScript source in
 * `src/`, and the script is the build of its neighbour in `dist/src/` (`npm test` builds first).
 */
export function workerScript(callerUrl: string, worker: string): string {
  const here = fileURLToPath(callerUrl);
  const dir = path.dirname(here);
  if (!here.endsWith('.ts')) return path.join(dir, worker);
  const d = dir + path.sep;
  const root = d.lastIndexOf(`${path.sep}src${path.sep}`);
  return path.join(d.slice(0, root), 'dist', d.slice(root + 1), worker);
}

export interface ProcessThreadHandlers<M> {
  /** A message from the thread. */
  message(m: M): void;
  /** The thread ended (`why`): fail what was in flight on it. */
  ended(why: string): void;
}

export class ProcessThread<M> {
  /** The thread's script; another one only in tests. */
  #script: string;
  readonly #handlers: ProcessThreadHandlers<M>;
  /** undefined: not started (or ended after answering); null: cannot run here. */
  #worker: Worker | null | undefined;
  #holds = 0;

  constructor(script: string, handlers: ProcessThreadHandlers<M>) {
    this.#script = script;
    this.#handlers = handlers;
  }

  /** The script threads start from (the build's, unless a test gave another). */
  get script(): string {
    return this.#script;
  }

  /** The running thread, started if need be; undefined where none can run. */
  get(): Worker | undefined {
    if (this.#worker === undefined) {
      try {
        this.#worker = fs.existsSync(this.#script) ? this.#start(this.#script) : null;
      } catch {
        this.#worker = null; // no thread can start here (resource limits)
      }
    }
    return this.#worker ?? undefined;
  }

  #start(script: string): Worker {
    const worker = new Worker(script);
    let answered = false;
    worker.on('message', (m: M) => {
      answered = true;
      this.#handlers.message(m);
    });
    const ended = (why: string) => {
      if (this.#worker !== worker) return;
      this.#worker = answered ? undefined : null;
      this.#holds = 0;
      this.#handlers.ended(why);
    };
    worker.on('error', (err) => ended(err.message));
    worker.on('exit', (code) => ended(`exit code ${code}`));
    worker.unref();
    return worker;
  }

  /** Work was put on the thread: it keeps the process alive until as many `release()`s. */
  hold(): void {
    if (this.#holds++ === 0) this.#worker?.ref();
  }

  release(): void {
    if (this.#holds > 0 && --this.#holds === 0) this.#worker?.unref();
  }

  /** For tests: ends the thread as a crash would; the next one starts from `script` if given. */
  async end(script?: string): Promise<void> {
    if (this.#worker) await this.#worker.terminate();
    if (script !== undefined) {
      this.#script = script;
      this.#worker = undefined;
    }
  }
}
