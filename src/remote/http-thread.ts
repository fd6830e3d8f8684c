/**
 * {@link send} on the upload thread (http-worker.ts): one thread per process, started with the
 * first request and held only while requests are in flight, so an idle uploader never keeps the
 * process alive. Where the thread cannot run (no build of it beside this module), requests are
 * sent on the calling thread.
 */
import type { Worker } from 'node:worker_threads';
import { ProcessThread, workerScript } from '../process-thread.js';
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

const waiting = new Map<number, Waiter>();
let nextId = 1;
// When it ends, its requests fail as a dropped connection would (the uploader asks the offset
// and resumes); later ones start another thread, or are sent on the calling thread where none
// can run (process-thread.ts).
const thread = new ProcessThread<FromHttpThread>(workerScript(import.meta.url, 'http-worker.js'), {
  message: (m) => {
    const w = waiting.get(m.id);
    if (!w) return;
    waiting.delete(m.id);
    thread.release();
    if ('response' in m) w.resolve(m.response);
    else w.reject(new NetworkError(m.error));
  },
  ended: (why) => {
    const lost = [...waiting.values()];
    waiting.clear();
    for (const w of lost) w.reject(new NetworkError(`the upload thread ended: ${why}`));
  },
});

function sendOn(worker: Worker, target: string, options: RequestOptions): Promise<Response> {
  const { signal, ...rest } = options;
  if (signal?.aborted) return Promise.reject(new NetworkError('aborted'));
  const id = nextId++;
  return new Promise<Response>((resolve, reject) => {
    const onAbort = () => worker.postMessage({ abort: id } satisfies ToHttpThread);
    signal?.addEventListener('abort', onAbort, { once: true });
    const done = () => signal?.removeEventListener('abort', onAbort);
    // Held while requests are in flight, so an idle uploader never keeps the process alive.
    thread.hold();
    waiting.set(id, {
      resolve: (r) => (done(), resolve(r)),
      reject: (e) => (done(), reject(e)),
    });
    worker.postMessage({ id, target, options: rest } satisfies ToHttpThread);
  });
}

/** {@link send}, on the upload thread where it can run. */
export function sendOffThread(target: string, options: RequestOptions): Promise<Response> {
  const worker = thread.get();
  return worker ? sendOn(worker, target, options) : send(target, options);
}

/**
 * Ends the upload thread as a crash would (for tests): its requests in flight fail, and the next
 * request starts another thread, from `script` when given (the build's by default).
 */
export async function endUploadThreadForTests(script?: string): Promise<void> {
  await thread.end(script);
}

/** The build's upload thread script (for tests). */
export const UPLOAD_THREAD_SCRIPT = thread.script;
