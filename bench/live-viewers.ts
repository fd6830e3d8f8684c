/**
 * Live viewers in a process of their own, so that their parsing does not slow the benchmark's
 * ssh client: `node live-viewers.js PORT PATH...` connects one viewer per stream path, prints
 * `ready` once each has its first message, and exits once every stream has ended.
 */
import { firstMessage, SseViewer } from './live-client.js';

const [port, ...paths] = process.argv.slice(2);
const viewers = paths.map((p) => new SseViewer(Number(port), p, false));
await Promise.all(viewers.map(firstMessage));
process.stdout.write('ready\n');
await Promise.all(viewers.map((v) => v.closed));
