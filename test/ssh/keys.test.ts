import ssh2 from 'ssh2';
import { describe, expect, it } from 'vitest';
import { generateEd25519KeyPair } from '../../src/ssh/keys.js';

describe('generateEd25519KeyPair', () => {
  // ssh2's own generator yields a key its parser rejects about 1 time in 200: in 2000 tries a
  // regression shows with near certainty.
  it('never returns a key that ssh2 cannot parse', () => {
    for (let i = 0; i < 2000; i++) {
      const pair = generateEd25519KeyPair();
      expect(ssh2.utils.parseKey(pair.private)).not.toBeInstanceOf(Error);
      expect(ssh2.utils.parseKey(pair.public)).not.toBeInstanceOf(Error);
    }
  });
});
