/**
 * Test helpers for the replay page: start the BUILT `sshcast web` as a child process, read the URL
 * it prints, and make raw HTTP requests with any Host header.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));
const MAIN = path.join(ROOT, 'dist/src/cli/main.js');
const WEB = path.join(ROOT, 'dist/src/cli/web.js');

export interface Served {
  child: ChildProcess;
  /** The printed URL, with the token. */
  url: string;
  origin: string;
  port: number;
  token: string;
  stderr: () => string;
  /** Sends SIGTERM and resolves with the exit code. */
  stop(): Promise<number | null>;
}

/** The command line that runs `sshcast web`: through the bin when it is built, else web.js directly. */
export function webCommand(): string[] {
  return fs.existsSync(MAIN) ? [MAIN, 'web'] : [WEB];
}

/** Starts `sshcast web DIR --port 0 ...extra` and waits for its `serving` line (at most 15 s). */
export async function serve(dir: string, extra: string[] = []): Promise<Served> {
  const child = spawn(process.execPath, [...webCommand(), dir, '--port', '0', ...extra], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no serving line within 15 s; stderr: ${err}`)),
      15_000,
    );
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /^serving (http:\/\/\S+)\n/m.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`sshcast web exited with ${code}: ${err}`));
    });
  });
  const u = new URL(url);
  return {
    child,
    url,
    origin: u.origin,
    port: Number(u.port),
    token: new URLSearchParams(u.hash.slice(1)).get('token')!,
    stderr: () => err,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** A GET to 127.0.0.1:port with exactly this path (no normalisation) and these headers. */
export function rawGet(
  port: number,
  pathname: string,
  headers: Record<string, string> = {},
  method = 'GET',
): Promise<RawResponse> {
  // An empty Host means none at all (Node would otherwise fill in its own).
  const setHost = headers.Host !== '';
  if (!setHost) headers = Object.fromEntries(Object.entries(headers).filter(([k]) => k !== 'Host'));
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path: pathname, method, headers, setHost, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** A GET as the page sends it (right Host, the token in an Authorization header). */
export function authedGet(
  s: Served,
  pathname: string,
  headers: Record<string, string> = {},
): Promise<RawResponse> {
  return rawGet(s.port, pathname, {
    Host: `127.0.0.1:${s.port}`,
    Authorization: `Bearer ${s.token}`,
    ...headers,
  });
}

/**
 * A page of the server as a new tab opens it with the token: `path`, then `#token=TOKEN` (each
 * tab keeps its own token, in its sessionStorage).
 */
export function pageUrl(s: Served, pathname: string): string {
  return `${s.origin}${pathname}#token=${s.token}`;
}

/** The header line of a fixture recording. */
export function header(fields: Record<string, unknown> = {}): string {
  return `${JSON.stringify({ version: 2, width: 80, height: 24, timestamp: 1700000000, env: { TERM: 'xterm-256color', SHELL: '/bin/bash' }, ...fields })}\n`;
}

/** A fixture directory: mode 0700, with the files given (name → content). */
export function makeDir(parent: string, name: string, files: Record<string, string>): string {
  const dir = path.join(parent, name);
  fs.mkdirSync(dir, { mode: 0o700 });
  for (const [file, text] of Object.entries(files))
    fs.writeFileSync(path.join(dir, file), text, { mode: 0o600 });
  return dir;
}
