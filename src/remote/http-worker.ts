/**
 * The upload thread: sends the uploader's requests, so that reading a batch back from its file
 * and pushing it into the socket (for loopback and near collectors, most of what streaming costs)
 * happen off the server's thread. The server's thread sends a request's target and options and
 * gets its answer back; nothing of the batch itself crosses between the threads.
 */
import { parentPort } from 'node:worker_threads';
import { send } from './http.js';
import type { FromHttpThread, ToHttpThread } from './http-thread.js';

const port = parentPort!;
const inFlight = new Map<number, AbortController>();

function post(m: FromHttpThread): void {
  port.postMessage(m);
}

port.on('message', (m: ToHttpThread) => {
  if (m.abort !== undefined) {
    inFlight.get(m.abort)?.abort();
    return;
  }
  const stop = new AbortController();
  inFlight.set(m.id, stop);
  send(m.target, { ...m.options, signal: stop.signal })
    .then(
      (response) => post({ id: m.id, response }),
      (err: unknown) => post({ id: m.id, error: err instanceof Error ? err.message : String(err) }),
    )
    .finally(() => inFlight.delete(m.id));
});
