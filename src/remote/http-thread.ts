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

  private constructor(script: string) {
    this.#worker = new Worker(script);
    this.#worker.on('message', (m: FromHttpThread) => {
      const w = this.#waiting.get(m.id);
      if (!w) return;
      this.#settled(m.id);
      if ('response' in m) w.resolve(m.response);
      else w.reject(new NetworkError(m.error));
    });
    // Only a bug ends the thread: its requests fail as a dropped connection would (the uploader
    // asks the offset and resumes), and later ones start another thread.
    this.#worker.on('error', (err) => this.#dead(err.message));
    this.#worker.on('exit', (code) => this.#dead(`exit code ${code}`));
    this.#worker.unref();
  }

  static get(): HttpThread | undefined {
    if (HttpThread.#instance === undefined) {
      const script = workerScript(import.meta.url, 'http-worker.js');
      HttpThread.#instance = fs.existsSync(script) ? new HttpThread(script) : null;
    }
    return HttpThread.#instance ?? undefined;
  }

  static async end(): Promise<void> {
    const thread = HttpThread.#instance;
    if (thread) await thread.#worker.terminate();
  }

  #dead(why: string): void {
    if (HttpThread.#instance === this) HttpThread.#instance = undefined;
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
 * request starts another thread.
 */
export async function endUploadThreadForTests(): Promise<void> {
  await HttpThread.end();
}
