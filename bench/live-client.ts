/**
 * Clients of `sshcast web`'s live views, shared by the live benchmark and the live load test: the
 * built `sshcast web` as a child process, a ticket asked for with the token, and Server-Sent
 * Events read as a browser's EventSource reads them (or not read at all: a stalled viewer).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// dist/bench/ when built, bench/ when a test imports the source.
const here = path.dirname(fileURLToPath(import.meta.url));
const root =
  path.basename(path.dirname(here)) === 'dist' ? path.resolve(here, '../..') : path.dirname(here);
const MAIN = path.join(root, 'dist/src/cli/main.js');

/** A running `sshcast web`. */
export interface WebProcess {
  child: ChildProcess;
  port: number;
  token: string;
  /** What it logged (the audit log). */
  stderr(): string;
  stop(): Promise<void>;
}

/** Starts the built `sshcast web DIR --port 0 ARGS` and waits for its serving line. */
export async function startWeb(dir: string, args: string[] = []): Promise<WebProcess> {
  const child = spawn(process.execPath, [MAIN, 'web', dir, '--port', '0', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const url = await new Promise<URL>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /^serving (\S+)\n/m.exec(out);
      if (m) resolve(new URL(m[1]!));
    });
    child.once('exit', (code) => reject(new Error(`sshcast web exited with ${code}: ${err}`)));
  });
  return {
    child,
    port: Number(url.port),
    token: new URLSearchParams(url.hash.slice(1)).get('token')!,
    stderr: () => err,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Asks for a ticket to `name`'s live stream; resolves with the stream's path. */
export function liveTicket(web: WebProcess, name: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port: web.port,
        method: 'POST',
        path: `/api/live/${encodeURIComponent(name)}/ticket`,
        headers: { Authorization: `Bearer ${web.token}` },
        agent: false,
      },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => {
          if (res.statusCode !== 200) return reject(new Error(`ticket: ${res.statusCode} ${body}`));
          resolve((JSON.parse(body) as { url: string }).url);
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** One SSE message, with when it was received (performance.now()). */
export interface SseMessage {
  event: string;
  data: string;
  at: number;
}

/** A viewer that reads its stream as EventSource does (no reconnect). */
export class SseViewer {
  readonly messages: SseMessage[] = [];
  /** How many messages came, kept or not. */
  received = 0;
  /** Resolves when the connection ends. */
  readonly closed: Promise<void>;
  /** Called on every message. */
  onMessage: ((m: SseMessage) => void) | undefined;
  #req: http.ClientRequest;
  #pending = '';

  constructor(port: number, streamPath: string, keep = true) {
    let resolveClosed!: () => void;
    this.closed = new Promise((r) => (resolveClosed = r));
    this.#req = http.get({ host: '127.0.0.1', port, path: streamPath, agent: false }, (res) => {
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => this.#take(chunk, keep));
      res.on('close', resolveClosed);
    });
    this.#req.on('error', resolveClosed);
  }

  #take(chunk: string, keep: boolean): void {
    this.#pending += chunk;
    const at = performance.now();
    for (;;) {
      const end = this.#pending.indexOf('\n\n');
      if (end === -1) return;
      const block = this.#pending.slice(0, end);
      this.#pending = this.#pending.slice(end + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event: ')) event = line.slice(7);
        else if (line.startsWith('data: ')) data.push(line.slice(6));
      }
      if (data.length === 0) continue;
      const m = { event, data: data.join('\n'), at };
      this.received++;
      if (keep) this.messages.push(m);
      this.onMessage?.(m);
    }
  }

  close(): void {
    this.#req.destroy();
  }
}

/** Resolves once `v` has its first message (its reset). */
export function firstMessage(v: SseViewer): Promise<void> {
  return new Promise((resolve) => {
    if (v.received > 0) return resolve();
    v.onMessage = () => resolve();
  });
}

/**
 * A viewer that stops reading once its request is sent: the server's only defence is its own
 * limit. Resolves with the socket, whose 'close' says when the server cut it off.
 */
export async function stalledViewer(port: number, streamPath: string): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(`GET ${streamPath} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
  socket.pause();
  return socket;
}

/** The resident memory of process `pid`, in bytes. */
export async function rssOf(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)![1]) * 1024;
}
