/**
 * {@link send} on the upload thread (http-worker.ts): one thread per process, started with the
 * first request and held only while requests are in flight, so an idle uploader never keeps the
 * process alive. Where the thread cannot run (no build of it beside this module), requests are
 * sent on the calling thread.
 */
import fs from 'node:fs';
import { Worker } from 'node:worker_threads';
import { workerScript } from '../worker-script.js';
import { NetworkError, send, type RequestOptions, type Response } from './http.js';

/** To the thread: a request, or the abort of one. */
export type ToHttpThread =
  | { id: number; target: string; options: Omit<RequestOptions, 'signal'>; abort?: undefined }
  | { abort: number };

/** From the thread: a request's answer, or why it failed (a NetworkError's message). */
export type FromHttpThread = { id: number; response: Response } | { id: number; error: string };

interface Waiter {
  resolve(r: Response): void;
  reject(err: Error): void;
}

class HttpThread {
  static #instance: HttpThread | null | undefined;
  readonly #worker: Worker;
  readonly #waiting = new Map<number, Waiter>();
  #nextId = 1;
  /** Whether this thread ever answered: one that ends before it does cannot run here. */
  #answered = false;

  private constructor(script: string) {
    this.#worker = new Worker(script);
    this.#worker.on('message', (m: FromHttpThread) => {
      const w = this.#waiting.get(m.id);
      this.#answered = true;
      if (!w) return;
      this.#settled(m.id);
      if ('response' in m) w.resolve(m.response);
      else w.reject(new NetworkError(m.error));
    });
    // Only a bug ends the thread: its requests fail as a dropped connection would (the uploader
    // asks the offset and resumes), and later ones start another thread. A thread that ends
    // before its first answer (its script does not load, threads cannot start) is not started
    // again: requests are sent on the calling thread from then on.
    this.#worker.on('error', (err) => this.#dead(err.message));
    this.#worker.on('exit', (code) => this.#dead(`exit code ${code}`));
    this.#worker.unref();
  }

  /** The thread's script; another one only in tests. */
  static script = workerScript(import.meta.url, 'http-worker.js');

  static get(): HttpThread | undefined {
    if (HttpThread.#instance === undefined) {
      const script = HttpThread.script;
      try {
        HttpThread.#instance = fs.existsSync(script) ? new HttpThread(script) : null;
      } catch {
        HttpThread.#instance = null; // no thread can start here (resource limits)
      }
    }
    return HttpThread.#instance ?? undefined;
  }

  static async end(script?: string): Promise<void> {
    const thread = HttpThread.#instance;
    if (thread) await thread.#worker.terminate();
    if (script !== undefined) {
      HttpThread.script = script;
      HttpThread.#instance = undefined;
    }
  }

  #dead(why: string): void {
    if (HttpThread.#instance === this) HttpThread.#instance = this.#answered ? undefined : null;
    const waiting = [...this.#waiting.values()];
    this.#waiting.clear();
    for (const w of waiting) w.reject(new NetworkError(`the upload thread ended: ${why}`));
  }

  #settled(id: number): void {
    this.#waiting.delete(id);
    if (this.#waiting.size === 0) this.#worker.unref();
  }

  send(target: string, options: RequestOptions): Promise<Response> {
    const { signal, ...rest } = options;
    if (signal?.aborted) return Promise.reject(new NetworkError('aborted'));
    const id = this.#nextId++;
    return new Promise<Response>((resolve, reject) => {
      const onAbort = () => this.#worker.postMessage({ abort: id } satisfies ToHttpThread);
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = () => signal?.removeEventListener('abort', onAbort);
      if (this.#waiting.size === 0) this.#worker.ref();
      this.#waiting.set(id, {
        resolve: (r) => (done(), resolve(r)),
        reject: (e) => (done(), reject(e)),
      });
      this.#worker.postMessage({ id, target, options: rest } satisfies ToHttpThread);
    });
  }
}

/** {@link send}, on the upload thread where it can run. */
export function sendOffThread(target: string, options: RequestOptions): Promise<Response> {
  const thread = HttpThread.get();
  return thread ? thread.send(target, options) : send(target, options);
}

/**
 * Ends the upload thread as a crash would (for tests): its requests in flight fail, and the next
 * request starts another thread, from `script` when given (the build's by default).
 */
export async function endUploadThreadForTests(script?: string): Promise<void> {
  await HttpThread.end(script);
}

/** The build's upload thread script (for tests). */
export const UPLOAD_THREAD_SCRIPT = HttpThread.script;
