/**
 * Every use of node-pty's private API, in one place, each checked when it is used so that an
 * upgrade that changes one fails loudly here instead of losing output somewhere else
 * (test/pty/internals.test.ts pins what each one does). Written against node-pty 1.1.0.
 */
import { createRequire } from 'node:module';
import type pty from 'node-pty';
import { SshcastError } from '../errors.js';

/** The parts of a node-pty UnixTerminal the workarounds reach. */
export interface PtyInternals {
  /** The pty master's descriptor (`_fd`), non-blocking: the bounded input writer writes to it. */
  masterFd: number;
  /**
   * The tty.ReadStream on the master (`_socket`). node-pty calls its `destroy()` with no argument
   * 200 ms after the child exits, unread output or not (node-pty #85, #726); the stream itself
   * calls it with the error (EIO), or with none once it has read to the end (`readableEnded`).
   */
  socket: { destroy(...args: unknown[]): unknown; readonly readableEnded: boolean };
  /** The slave's path (`ptsName`, `_pty` before 1.1): the tail-loss fix holds it open. */
  slavePath: string;
}

function changed(what: string): SshcastError {
  return new SshcastError(
    'ERR_PTY_INTERNALS',
    `node-pty changed: ${what} (sshcast relies on node-pty 1.1's internals; see src/pty/internals.ts)`,
  );
}

/** Reads the private fields of a terminal node-pty just spawned; throws if they are not there. */
export function ptyInternals(term: pty.IPty): PtyInternals {
  const t = term as unknown as {
    _fd?: unknown;
    _socket?: { destroy?: unknown };
    ptsName?: unknown;
    _pty?: unknown;
  };
  if (typeof t._fd !== 'number') throw changed('no numeric _fd');
  if (typeof t._socket?.destroy !== 'function') throw changed('no _socket.destroy()');
  const slavePath = t.ptsName ?? t._pty;
  if (typeof slavePath !== 'string') throw changed('no ptsName');
  return {
    masterFd: t._fd,
    socket: t._socket as PtyInternals['socket'],
    slavePath,
  };
}

type ExitCallback = (code: number, signal: number) => void;
type Fork = (...args: unknown[]) => unknown;

let armed: ExitCallback | undefined;
let hooked = false;

/**
 * node-pty learns that its child exited from its native `fork()`'s last argument, then waits
 * 200 ms before it does anything about it. This wraps the native `fork` once, so that a spawn
 * made through {@link spawnWithExitHook} hears of the exit at once; every other caller of node-pty
 * in the process is passed through untouched.
 */
function hookNativeFork(): void {
  if (hooked) return;
  const require = createRequire(import.meta.url);
  const utils = require('node-pty/lib/utils.js') as {
    loadNativeModule?: (name: string) => { module: { fork?: unknown } };
  };
  const native = utils.loadNativeModule?.('pty').module;
  if (typeof native?.fork !== 'function') throw changed('no native fork()');
  const fork = native.fork as Fork;
  native.fork = function (this: unknown, ...args: unknown[]): unknown {
    const hook = armed;
    armed = undefined;
    const onexit = args.at(-1);
    if (hook && typeof onexit === 'function') {
      args[args.length - 1] = (code: number, signal: number) => {
        hook(code, signal);
        (onexit as ExitCallback)(code, signal);
      };
    }
    return fork.apply(this, args);
  };
  hooked = true;
}

/**
 * Spawns through node-pty with `onExit` called the moment the child exits, before node-pty's
 * 200 ms wait and its own exit event. Should node-pty stop calling the native fork with an exit
 * callback, `onExit` is never called and node-pty's own teardown is all there is.
 */
export function spawnWithExitHook(spawn: () => pty.IPty, onExit: ExitCallback): pty.IPty {
  hookNativeFork();
  armed = onExit;
  try {
    return spawn();
  } finally {
    armed = undefined;
  }
}
