/**
 * A started session's pump: the process's output goes through the recording to the client
 * (record first, then forward), with backpressure from the client and the recording; input goes
 * back; a client that goes away hangs the process up; the exit reaches the recording, then the
 * client.
 */
import type ssh2 from 'ssh2';
import { exitStatus } from '../asciicast/event.js';
import { WRITE_FAILURE_MESSAGE } from '../recording/policy.js';
import type { Recording } from '../recording/recording.js';
import { sshSignalName } from './exit.js';
import type { ProcessStream, SessionProcess } from './process.js';
import type { Logger } from '../log.js';

// How long after a hangup a process that ignores SIGHUP keeps its recording open.
const HANGUP_GRACE_MS = 10_000;

/** One started session: pumps output through the recording to the client, and input back. */
export class RunningSession {
  readonly #channel: ssh2.ServerChannel;
  readonly #proc: SessionProcess;
  readonly #recording: Recording;
  readonly #pty: boolean;
  readonly #log: Logger;
  readonly #waits = new Set<string>();
  #clientGone = false;
  #inputPaused = false;
  #terminated = false;
  #done = false;

  constructor(
    channel: ssh2.ServerChannel,
    proc: SessionProcess,
    recording: Recording,
    pty: boolean,
    log: Logger,
  ) {
    this.#channel = channel;
    this.#proc = proc;
    this.#recording = recording;
    this.#pty = pty;
    this.#log = log;

    proc.on('data', (chunk, stream) => this.#output(chunk, stream));
    proc.on('exit', (exit) => void this.#exit(exit));

    channel.on('data', (data: Buffer) => {
      recording.input(data);
      // A process that does not read its input pauses the client, not the server's memory.
      if (!proc.write(data) && !this.#inputPaused) {
        this.#inputPaused = true;
        channel.pause();
        proc.once('input-drain', () => {
          this.#inputPaused = false;
          channel.resume();
        });
      }
    });
    // Only a pipe's stdin ends on the client's EOF: OpenSSH sends EOF at once for
    // `ssh -tt host cmd </dev/null`, and that must not end a pty session.
    channel.on('end', () => proc.endInput());
    channel.on('close', () => this.#gone());
    channel.on('error', () => this.#gone());
    recording.on('failure', (_err, action) => {
      this.#release('recording');
      if (action === 'terminate') this.#terminate(WRITE_FAILURE_MESSAGE);
    });
    recording.on('end-session', (message) => this.#terminate(message));
  }

  // The policy ends the session: the client is told why, the process hung up.
  #terminate(message: string): void {
    if (this.#terminated || this.#done) return;
    this.#terminated = true;
    if (!this.#clientGone) this.#channel.stderr.write(message + (this.#pty ? '\r\n' : '\n'));
    this.#proc.kill('SIGHUP');
  }

  resize(cols: number, rows: number): void {
    if (!this.#pty || this.#done) return;
    try {
      this.#proc.resize(cols, rows);
    } catch (err) {
      this.#log(`sshcast: resize to ${cols}x${rows} failed: ${(err as Error).message}`);
      return;
    }
    this.#wait('recording', this.#recording.resize(cols, rows));
  }

  signal(signal: NodeJS.Signals): void {
    if (!this.#done) this.#proc.kill(signal);
  }

  #output(chunk: Buffer, stream: ProcessStream): void {
    const recorded = this.#recording.output(chunk, stream);
    if (this.#clientGone) return this.#wait('recording', recorded);
    const sent =
      stream === 'stderr' ? this.#channel.stderr.write(chunk) : this.#channel.write(chunk);
    this.#wait('recording', recorded);
    this.#wait(stream, sent);
  }

  // Backpressure: while the recording or a client stream is full, the process is paused.
  #wait(what: string, ok: boolean): void {
    if (ok || this.#waits.has(what)) return;
    if (this.#waits.size === 0) this.#proc.pause();
    this.#waits.add(what);
    if (what === 'recording') this.#recording.once('drain', () => this.#release('recording'));
    else if (what === 'stderr') this.#channel.stderr.once('drain', () => this.#release('stderr'));
    else this.#channel.once('drain', () => this.#release('stdout'));
  }

  #release(what: string): void {
    if (!this.#waits.delete(what)) return;
    if (this.#waits.size === 0) this.#proc.resume();
  }

  #gone(): void {
    if (this.#clientGone) return;
    this.#clientGone = true;
    this.#release('stdout');
    this.#release('stderr');
    if (this.#done) return;
    this.#proc.hangup();
    // A process that ignores SIGHUP outlives its session, as under sshd; its recording ends.
    const timer = setTimeout(() => void this.#exit({ signal: 1 }), HANGUP_GRACE_MS);
    timer.unref();
    this.#proc.once('exit', () => clearTimeout(timer));
  }

  async #exit(exit: { status?: number; signal?: number }): Promise<void> {
    if (this.#done) return;
    this.#done = true;
    const status = exitStatus(exit);
    await this.#recording.finish(status);
    if (this.#clientGone) return;
    const name = exit.signal ? sshSignalName(exit.signal) : undefined;
    try {
      if (name) this.#channel.exit(name, false, '');
      else this.#channel.exit(status);
      this.#channel.end();
    } catch (err) {
      this.#log(`sshcast: ending session: ${(err as Error).message}`);
    }
  }
}
