/** Runs a command in a real pseudo-terminal (node-pty) so tests can type keys and read the screen. */
import pty from 'node-pty';

export interface PtyRun {
  readonly term: pty.IPty;
  /** Everything read so far. */
  output(): string;
  /** Resolves when the output matches, rejects after `timeoutMs`. */
  waitFor(pattern: RegExp | string, timeoutMs?: number): Promise<void>;
  /** Resolves with the exit status when the command ends. */
  exited: Promise<{ exitCode: number; signal?: number }>;
}

export function runInPty(
  file: string,
  args: string[],
  options: { cols?: number; rows?: number; cwd?: string } = {},
): PtyRun {
  const term = pty.spawn(file, args, {
    name: 'xterm-256color',
    cols: options.cols ?? 80,
    rows: options.rows ?? 24,
    cwd: options.cwd ?? process.cwd(),
    env: { ...process.env, TERM: 'xterm-256color' },
  });
  let out = '';
  const waiters = new Set<() => void>();
  term.onData((d) => {
    out += d;
    for (const w of [...waiters]) w();
  });
  const exited = new Promise<{ exitCode: number; signal?: number }>((resolve) =>
    term.onExit(resolve),
  );
  return {
    term,
    output: () => out,
    exited,
    waitFor(pattern, timeoutMs = 15_000) {
      const test = () => (typeof pattern === 'string' ? out.includes(pattern) : pattern.test(out));
      if (test()) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!test()) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(
            new Error(
              `timed out waiting for ${String(pattern)}; output so far: ${JSON.stringify(out.slice(-500))}`,
            ),
          );
        }, timeoutMs);
        waiters.add(check);
      });
    },
  };
}
