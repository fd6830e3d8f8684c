/**
 * Recording a channel the host serves itself (a custom shell, a honeypot, a CLI), without
 * node-pty: a tee on the channel's writes, under the same policies as a spawned session.
 */
import type ssh2 from 'ssh2';
import type { Recording } from '../recording/recording.js';
import { exitStatus } from '../asciicast/event.js';
import { START_FAILURE_MESSAGE, WRITE_FAILURE_MESSAGE } from '../recording/policy.js';
import { signalNumber } from './exit.js';

type Write = (...args: unknown[]) => boolean;

/**
 * Records everything written to `channel` (and to `channel.stderr`) into `recording` before it
 * is sent, the client's input when the recording records input, and the status given to
 * `channel.exit()`; the recording is finished when the channel closes. Returns the channel.
 * A write returns false when the channel's buffer or the recording's queue is full (a disk slower
 * than the client): wait for the channel's `'drain'`, emitted again when the recording drained.
 *
 * The recorder's policies apply as to a spawned session. With the `closed` remote policy nothing
 * reaches the client before a collector accepted the recording: until then writes are held and
 * return false (write again on `'drain'`), and when no collector accepts, the client is told
 * `can't start new recording` and the channel ends with status 1. A policy that ends the session
 * (`onWriteFailure: 'terminate'`, a collector lagging too far) tells the client why and ends
 * the channel with status 1.
 */
export function recordChannel<C extends ssh2.ServerChannel>(channel: C, recording: Recording): C {
  let status: number | undefined;
  let ended = false;
  const stderr = channel.stderr;
  const rawWrite = channel.write.bind(channel) as Write;
  const rawWriteErr = stderr.write.bind(stderr) as Write;
  const rawExit = channel.exit.bind(channel) as (...args: unknown[]) => void;

  // Until a `closed` policy's collector accepted, writes wait here, in order.
  let held: { stream: 'stdout' | 'stderr'; args: unknown[] }[] | undefined = recording.accepted
    ? []
    : undefined;
  const send = (stream: 'stdout' | 'stderr', args: unknown[]): boolean => {
    if (held) {
      held.push({ stream, args });
      return false;
    }
    return stream === 'stdout' ? rawWrite(...args) : rawWriteErr(...args);
  };
  // The recording's queue is full: the host is told to wait, and 'drain' comes when it drained
  // (or can take no more: a failure, the end).
  let full = false;
  const drained = () => {
    if (!full) return;
    full = false;
    recording.off('drain', drained);
    if (ended) return;
    channel.emit('drain');
    stderr.emit('drain');
  };
  const tee =
    (stream: 'stdout' | 'stderr') =>
    (chunk: unknown, ...rest: unknown[]) => {
      if (ended) return false;
      let recorded = true;
      if (typeof chunk === 'string' || chunk instanceof Uint8Array)
        recorded = recording.output(chunk, stream);
      const sent = send(stream, [chunk, ...rest]);
      if (!recorded && !full) {
        full = true;
        recording.on('drain', drained);
      }
      return sent && recorded;
    };
  channel.write = tee('stdout') as C['write'];
  stderr.write = tee('stderr') as typeof stderr.write;
  channel.exit = ((statusOrSignal: number | string, ...rest: unknown[]) => {
    status =
      typeof statusOrSignal === 'number'
        ? statusOrSignal
        : exitStatus({ signal: signalNumber(String(statusOrSignal)) ?? 0 });
    return rawExit(statusOrSignal, ...rest);
  }) as C['exit'];

  // The policy ends the session: what the host held is dropped, the client is told why.
  const end = (message: string) => {
    if (ended) return;
    ended = true;
    held = undefined;
    rawWriteErr(`${message}\r\n`);
    status = 1;
    rawExit(1);
    channel.end();
    // Input is moot now; read it away so that the channel can close (and the recording finish)
    // even when the host never reads.
    channel.resume();
  };

  recording.accepted?.then(
    () => {
      const waiting = held ?? [];
      held = undefined;
      if (ended) return;
      for (const w of waiting) send(w.stream, w.args);
      channel.emit('drain');
      stderr.emit('drain');
    },
    () => end(START_FAILURE_MESSAGE),
  );
  recording.on('failure', (_err, action) => {
    if (action === 'terminate') end(WRITE_FAILURE_MESSAGE);
    else drained(); // it records no more: nothing to wait for
  });
  recording.on('end-session', (message) => end(message));
  if (recording.recordsInput) channel.on('data', (d: Buffer | string) => recording.input(d));
  channel.once('close', () => void recording.finish(status));
  return channel;
}
