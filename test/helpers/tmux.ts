/**
 * A real terminal for interactive tests: a private tmux server (its own socket) running one
 * command in a window of a given size, with keys sent and the screen read back.
 */
import { execFileSync } from 'node:child_process';
import { until } from './e2e.js';

export class Tmux {
  readonly socket = `sshcast-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;

  #tmux(...args: string[]): string {
    return execFileSync('tmux', ['-L', this.socket, '-f', '/dev/null', ...args], {
      encoding: 'utf8',
    });
  }

  /** Starts `command` (argv) in a detached session of cols x rows with no status line. */
  start(command: string[], cols: number, rows: number): void {
    this.#tmux(
      'new-session',
      '-d',
      '-s',
      't',
      '-x',
      String(cols),
      '-y',
      String(rows),
      '--',
      ...command,
    );
    this.#tmux('set-option', '-g', 'status', 'off');
    this.#tmux('resize-window', '-t', 't', '-x', String(cols), '-y', String(rows));
  }

  /** Types `text` literally, then Enter when `enter`. */
  type(text: string, enter = true): void {
    this.#tmux('send-keys', '-t', 't', '-l', text);
    if (enter) this.#tmux('send-keys', '-t', 't', 'Enter');
  }

  resize(cols: number, rows: number): void {
    this.#tmux('resize-window', '-t', 't', '-x', String(cols), '-y', String(rows));
  }

  /** The visible screen as text. */
  screen(): string {
    try {
      return this.#tmux('capture-pane', '-p', '-t', 't');
    } catch {
      return '';
    }
  }

  /** Waits until the screen matches `pattern`. */
  waitFor(pattern: RegExp, what = String(pattern)): Promise<string> {
    return until(() => {
      const s = this.screen();
      return pattern.test(s) ? s : undefined;
    }, `the terminal to show ${what}; it shows:\n${this.screen()}`);
  }

  /** Whether the session still exists (its command has not exited). */
  alive(): boolean {
    try {
      this.#tmux('has-session', '-t', 't');
      return true;
    } catch {
      return false;
    }
  }

  kill(): void {
    try {
      this.#tmux('kill-server');
    } catch {
      /* already gone */
    }
  }
}
