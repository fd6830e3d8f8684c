/**
 * vitest global setup: starts one Swift for the whole run in the background (it is ready in a few
 * seconds, while the first test files run) and tells the test files where its address will be
 * written. Files that never call useSwift() do not wait for it. Stopped when the run ends.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { startSwift, type SwiftServer } from './swift.js';

export default function setup(project: TestProject): () => Promise<void> {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sshcast-swift-state-'));
  const stateFile = path.join(stateDir, 'swift.json');
  const write = (value: object) => {
    fs.writeFileSync(`${stateFile}.tmp`, JSON.stringify(value));
    fs.renameSync(`${stateFile}.tmp`, stateFile);
  };
  const starting: Promise<SwiftServer | undefined> = startSwift().then(
    (swift) => {
      const { stop: _stop, ...info } = swift;
      write(info);
      return swift;
    },
    (err: unknown) => {
      write({ error: err instanceof Error ? err.message : String(err) });
      return undefined;
    },
  );
  project.provide('swiftStateFile', stateFile);
  return async () => {
    await (await starting)?.stop();
    fs.rmSync(stateDir, { recursive: true, force: true });
  };
}
