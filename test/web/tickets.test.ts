import { describe, expect, it } from 'vitest';
import { Audit } from '../../src/web/audit.js';
import { Tickets } from '../../src/web/tickets.js';

describe('live stream tickets', () => {
  const clock = () => {
    let t = 0;
    return { now: () => t, advance: (ms: number) => (t += ms) };
  };

  it('one recording, one connection at a time, reconnects within the window, spent after done', () => {
    const c = clock();
    const tickets = new Tickets({ firstUseMs: 1000, reconnectMs: 500, now: c.now });
    const t = tickets.issue('a.cast');
    expect(t).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(tickets.use(t, 'b.cast')).toBe('another recording');
    expect(tickets.use('forged', 'a.cast')).toBe('unknown');
    const lease = tickets.use(t, 'a.cast');
    expect(typeof lease).toBe('object');
    expect(tickets.use(t, 'a.cast')).toBe('in use');
    // Held for longer than its first-use window: a live connection is not cut by time.
    c.advance(5000);
    if (typeof lease === 'string') throw new Error(lease);
    lease.release(false);
    c.advance(400);
    const again = tickets.use(t, 'a.cast');
    if (typeof again === 'string') throw new Error(again);
    again.release(false);
    c.advance(600);
    expect(tickets.use(t, 'a.cast')).toBe('expired');
    expect(tickets.use(t, 'a.cast')).toBe('unknown');

    const u = tickets.issue('a.cast');
    const l = tickets.use(u, 'a.cast');
    if (typeof l === 'string') throw new Error(l);
    l.release(true);
    expect(tickets.use(u, 'a.cast')).toBe('unknown');
  });

  it('an unused ticket expires; the store keeps at most max, dropping the oldest unused', () => {
    const c = clock();
    const tickets = new Tickets({ firstUseMs: 1000, max: 3, now: c.now });
    const old = tickets.issue('a.cast');
    c.advance(1001);
    expect(tickets.use(old, 'a.cast')).toBe('expired');
    const held = tickets.issue('a.cast');
    const lease = tickets.use(held, 'a.cast');
    const issued = [1, 2, 3, 4].map(() => tickets.issue('a.cast'));
    expect(tickets.use(issued[0]!, 'a.cast')).toBe('unknown');
    expect(typeof tickets.use(issued[3]!, 'a.cast')).toBe('object');
    expect(typeof lease).toBe('object');
  });
});

describe('the audit log', () => {
  it('one line per replay, live view and refusal, with the time, and client-chosen text escaped', () => {
    const lines: string[] = [];
    const audit = new Audit(
      (l) => lines.push(l),
      () => new Date('2026-12-01T10:00:00Z'),
    );
    audit.replay('a.cast', '127.0.0.1:5000');
    audit.liveStart('dev/b.cast', '[::1]:5001', 3);
    audit.liveEnd('dev/b.cast', '[::1]:5001', 12.345, 'exit');
    audit.refused('GET', '/files/\x1b]0;PWNED\x07\nreplay of x', '127.0.0.1:5002', 401, 'no token');
    expect(lines).toEqual([
      '2026-12-01T10:00:00.000Z replay of a.cast to 127.0.0.1:5000',
      '2026-12-01T10:00:00.000Z live view of dev/b.cast by [::1]:5001 started (3 watching)',
      '2026-12-01T10:00:00.000Z live view of dev/b.cast by [::1]:5001 ended after 12.3 s: exit',
      '2026-12-01T10:00:00.000Z refused GET /files/\\e]0;PWNED\\x07\\nreplay of x from 127.0.0.1:5002: 401 no token',
    ]);
    expect(lines[3]).not.toMatch(/[\x00-\x1f\x7f]/);
  });
});
