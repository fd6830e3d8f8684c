import { describe, expect, it } from 'vitest';
import {
  bearerToken,
  hostAllowed,
  newToken,
  sameSecret,
  tokenProblem,
} from '../../src/web/access.js';

describe('tokens', () => {
  it('a new token is 32 random bytes in base64url', () => {
    const a = newToken();
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(a, 'base64url')).toHaveLength(32);
    expect(newToken()).not.toBe(a);
    expect(tokenProblem(a)).toBeUndefined();
  });

  it('a token from a file must be long and safe in a URL fragment and a header', () => {
    expect(tokenProblem('short')).toBeDefined();
    expect(tokenProblem('has space in it 0123456789')).toBeDefined();
    expect(tokenProblem('semi;colon;0123456789')).toBeDefined();
    expect(tokenProblem('fine-token_0123456789.~')).toBeUndefined();
  });

  it('compares secrets of any length', () => {
    expect(sameSecret('abc', 'abc')).toBe(true);
    expect(sameSecret('abc', 'abd')).toBe(false);
    expect(sameSecret('abc', 'abcd')).toBe(false);
    expect(sameSecret('', 'x')).toBe(false);
  });

  it('reads the token of an Authorization: Bearer header, and nothing else', () => {
    expect(bearerToken('Bearer tok-123')).toBe('tok-123');
    expect(bearerToken('bearer tok-123')).toBe('tok-123');
    expect(bearerToken('Bearer  tok-123 ')).toBe('tok-123');
    expect(bearerToken('Basic dXNlcjpwYXNz')).toBeUndefined();
    expect(bearerToken('Bearer')).toBeUndefined();
    expect(bearerToken('Bearer a b')).toBeUndefined();
    expect(bearerToken('tok-123')).toBeUndefined();
    expect(bearerToken(undefined)).toBeUndefined();
  });
});

describe('hostAllowed', () => {
  it('accepts exactly the served host:port', () => {
    expect(hostAllowed('127.0.0.1:8080', '127.0.0.1', 8080)).toBe(true);
    expect(hostAllowed('127.0.0.1:8081', '127.0.0.1', 8080)).toBe(false);
    expect(hostAllowed('127.0.0.1', '127.0.0.1', 8080)).toBe(false);
    expect(hostAllowed('localhost:8080', '127.0.0.1', 8080)).toBe(false);
    expect(hostAllowed('evil.example:8080', '127.0.0.1', 8080)).toBe(false);
    expect(hostAllowed(undefined, '127.0.0.1', 8080)).toBe(false);
    expect(hostAllowed('[::1]:8080', '::1', 8080)).toBe(true);
    expect(hostAllowed('::1:8080', '::1', 8080)).toBe(false);
    expect(hostAllowed('Box.Example:8080', 'box.example', 8080)).toBe(true);
  });

  it('bound to a wildcard address, accepts IP literals with the port and refuses every name', () => {
    expect(hostAllowed('192.168.1.5:8080', '0.0.0.0', 8080)).toBe(true);
    expect(hostAllowed('[fe80::1]:8080', '::', 8080)).toBe(true);
    expect(hostAllowed('192.168.1.5:9999', '0.0.0.0', 8080)).toBe(false);
    expect(hostAllowed('rebind.evil.example:8080', '0.0.0.0', 8080)).toBe(false);
    expect(hostAllowed('1.2.3.4.nip.io:8080', '0.0.0.0', 8080)).toBe(false);
    expect(hostAllowed('999.1.1.1:8080', '0.0.0.0', 8080)).toBe(false);
  });
});
