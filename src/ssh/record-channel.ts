/**
 * Recording a channel the host serves itself (a custom shell, a honeypot, a CLI), without
 * node-pty: a tee on the channel's writes.
 */
import type ssh2 from 'ssh2';
import type { Recording } from '../recording/recording.js';
import { exitStatus } from '../asciicast/event.js';
import { signalNumber } from './exit.js';

/**
 * Records everything written to `channel` (and to `channel.stderr`) into `recording` before it
 * is sent, the client's input when the recording records input, and the status given to
 * `channel.exit()`; the recording is finished when the channel closes. Returns the channel.
 * Writes keep the channel's own backpressure; the recording's is not applied.
 */
export function recordChannel<C extends ssh2.ServerChannel>(channel: C, recording: Recording): C {
  let status: number | undefined;
  const write = channel.write.bind(channel) as (...args: unknown[]) => boolean;
  const tee = (stream: 'stdout' | 'stderr') => (chunk: unknown) => {
    if (typeof chunk === 'string' || chunk instanceof Uint8Array) recording.output(chunk, stream);
  };
  const out = tee('stdout');
  channel.write = ((chunk: unknown, ...rest: unknown[]) => {
    out(chunk);
    return write(chunk, ...rest);
  }) as C['write'];
  const stderr = channel.stderr;
  const writeErr = stderr.write.bind(stderr) as (...args: unknown[]) => boolean;
  const err = tee('stderr');
  stderr.write = ((chunk: unknown, ...rest: unknown[]) => {
    err(chunk);
    return writeErr(chunk, ...rest);
  }) as typeof stderr.write;
  const exit = channel.exit.bind(channel) as (...args: unknown[]) => void;
  channel.exit = ((statusOrSignal: number | string, ...rest: unknown[]) => {
    status =
      typeof statusOrSignal === 'number'
        ? statusOrSignal
        : exitStatus({ signal: signalNumber(String(statusOrSignal)) ?? 0 });
    return exit(statusOrSignal, ...rest);
  }) as C['exit'];
  if (recording.recordsInput) channel.on('data', (d: Buffer | string) => recording.input(d));
  channel.once('close', () => void recording.finish(status));
  return channel;
}
