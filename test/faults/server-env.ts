/**
 * The built example server (a child process, so /proc shows its memory, descriptors and children)
 * with recording on, a key in a shared authorized_keys file, and ssh2 clients that log in with it.
 */
import fs from 'node:fs';
import path from 'node:path';
import ssh2 from 'ssh2';
import {
  tempDir,
  type ExampleServer,
  authorizedKey,
  startRecordingServer,
} from '../helpers/e2e.js';

/** A running server and how to reach it. */
export interface ServerEnv {
  server: ExampleServer;
  pid: number;
  /** The recordings directory. */
  dir: string;
  /** The private key file (for the OpenSSH client). */
  keyFile: string;
  /** Connects an ssh2 client as root with the key. */
  connect(): Promise<ssh2.Client>;
  /** Stops the server and removes its files. */
  close(): Promise<void>;
}

/** Starts the example server with recording on and extra flags. */
export async function startServerEnv(args: string[] = []): Promise<ServerEnv> {
  const work = tempDir('srv-');
  const key = await authorizedKey(work);
  const dir = path.join(work, 'rec');
  const server = await startRecordingServer({
    dir,
    hostKey: path.join(work, 'host_key'),
    authorizedKeys: key.authorizedKeys,
    args,
  });
  const privateKey = fs.readFileSync(key.file);
  return {
    server,
    pid: server.child.pid!,
    dir,
    keyFile: key.file,
    connect: () =>
      new Promise((resolve, reject) => {
        const client = new ssh2.Client();
        client.on('ready', () => resolve(client)).on('error', reject);
        client.connect({
          host: '127.0.0.1',
          port: server.port,
          username: 'root',
          privateKey,
          readyTimeout: 20_000,
        });
      }),
    close: async () => {
      await server.stop();
      fs.rmSync(work, { recursive: true, force: true });
    },
  };
}

/** Opens a session channel: `exec` of `command`, or a shell when undefined; with a pty or not. */
export function openChannel(
  client: ssh2.Client,
  command: string | undefined,
  pty: { cols: number; rows: number } | undefined,
): Promise<ssh2.ClientChannel> {
  return new Promise((resolve, reject) => {
    const cb = (err: Error | undefined, ch: ssh2.ClientChannel) =>
      err ? reject(err) : resolve(ch);
    const p = pty ? { ...pty, term: 'xterm' } : undefined;
    if (command === undefined) client.shell(p ?? false, cb);
    else client.exec(command, p ? { pty: p } : {}, cb);
  });
}
