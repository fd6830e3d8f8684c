/**
 * A recording that grows on disk while an Uploader ships it, the way the Recorder will drive the
 * uploader: a header, then numbered event lines (so a lost or doubled line shows), each append
 * followed by `grew` with the file's size, and `closed` at the end.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Uploader } from '../../src/remote/uploader.js';

export interface Feed {
  name: string;
  file: string;
  /** Lines written so far (the header included). */
  lines(): number;
  /** Stops appending; with `close`, tells the uploader the recording is finished. */
  stop(close?: boolean): Promise<void>;
}

let counter = 0;

/** A fresh recording name like sshcast's. */
export function recordingName(): string {
  return `ssh-session-${Date.now()}${String(counter++).padStart(6, '0')}-${process.pid}.cast`;
}

/**
 * Appends `linesPerTick` event lines of about `lineBytes` every `tickMs` to a new recording in
 * `dir`, telling `uploader`.
 */
export async function startFeed(
  uploader: Uploader,
  dir: string,
  options: { tickMs?: number; linesPerTick?: number; lineBytes?: number; name?: string } = {},
): Promise<Feed> {
  const name = options.name ?? recordingName();
  const file = path.join(dir, name);
  const fd = fs.openSync(file, 'wx', 0o600);
  fs.writeSync(
    fd,
    `{"version":2,"width":80,"height":24,"timestamp":${Math.floor(Date.now() / 1000)}}\n`,
  );
  let size = fs.fstatSync(fd).size;
  await uploader.opened(name);
  uploader.grew(name, size);
  let n = 1;
  const pad = 'x'.repeat(Math.max(0, (options.lineBytes ?? 40) - 30));
  const timer = setInterval(() => {
    let text = '';
    for (let i = 0; i < (options.linesPerTick ?? 1); i++)
      text += `[${(n++ / 100).toFixed(2)}, "o", "line ${n} ${pad}\\r\\n"]\n`;
    size += fs.writeSync(fd, text);
    uploader.grew(name, size);
  }, options.tickMs ?? 10);
  return {
    name,
    file,
    lines: () => n,
    stop: async (close = true) => {
      clearInterval(timer);
      if (close) {
        size += fs.writeSync(fd, `[${(n / 100).toFixed(2)}, "x", "0"]\n`);
        fs.closeSync(fd);
        uploader.closed(name, size);
      }
    },
  };
}

/** Resolves when `uploader` has shipped `name` (at once if it has), or rejects after `timeoutMs`. */
export function shipped(uploader: Uploader, name: string, timeoutMs = 60_000): Promise<void> {
  if (!uploader.names().includes(name)) return Promise.resolve(); // shipped already
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      uploader.off('shipped', on);
      reject(
        new Error(
          `${name} not shipped in ${timeoutMs} ms: ${JSON.stringify(uploader.progress(name))}`,
        ),
      );
    }, timeoutMs);
    const on = (n: string) => {
      if (n !== name) return;
      clearTimeout(timer);
      uploader.off('shipped', on);
      resolve();
    };
    uploader.on('shipped', on);
  });
}
