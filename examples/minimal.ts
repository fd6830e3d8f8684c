// The README's first example, verbatim but for the import path (test/e2e/ssh-readme-example.test.ts runs it).
import fs from 'node:fs';
import ssh2 from 'ssh2';
import { Recorder, authenticate, serveSessions } from '../src/index.js';

const recorder = new Recorder({ dir: './recordings' }); // records when TS_DEBUG_LOG_SSH=1
const hostKeys = [fs.readFileSync('host_key')]; // ssh-keygen -t ed25519 -N '' -f host_key
new ssh2.Server({ hostKeys }, async (client, info) => {
  client.on('error', (err) => console.error(err.message));
  const identity = await authenticate(client, info); // public key only, as strict as sshd
  if (identity) serveSessions(client, { identity, recorder });
}).listen(Number(process.env.PORT ?? 2222), '127.0.0.1');
