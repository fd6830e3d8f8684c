#!/usr/bin/env python3
"""An independent fss1 verifier, written from DESIGN section 7 alone (standard library only).

usage: verify_fss1.py DIR KEY

Checks DIR/.sshcast/ledger.jsonl entry by entry under KEY (sshcast-fss1:<t0>:<D>:<hex>): seq,
prev, epochs and times never decreasing, each time inside its epoch, each mac under K(epoch),
entry 0 the init of this key; then each recording's chain against its last entry. Prints one
line per recording (`NAME: ok|unsealed-tail|modified|truncated|deleted|appended-after-close`)
and one for the ledger; exits 1 when anything fails, else 0.
"""
import hashlib
import hmac
import json
import os
import sys


def main(directory, key_text):
    prefix, t0, interval, seed = key_text.strip().split(':')
    assert prefix == 'sshcast-fss1'
    t0, interval, seed = int(t0), int(interval), bytes.fromhex(seed)

    keys = {0: seed}

    def key_of(epoch):
        e = max(k for k in keys if k <= epoch)
        while e < epoch:
            keys[e + 1] = hashlib.sha256(b'sshcast-fss1-evolve' + keys[e]).digest()
            e += 1
        return keys[epoch]

    with open(os.path.join(directory, '.sshcast', 'ledger.jsonl'), 'rb') as f:
        data = f.read()
    lines = data.split(b'\n')
    if lines[-1] != b'':
        print('ledger: last line cut short (ignored)')
    lines = lines[:-1]

    suffix_len = len(b',"mac":"') + 64 + len(b'"}')
    prev = '0' * 64
    last = None
    failed = False
    files = {}
    for i, line in enumerate(lines):
        if not line.endswith(b'"}') or line[-suffix_len:-66] != b',"mac":"':
            print('ledger: entry %d: no mac' % i)
            failed = True
            break
        mac = line[-66:-2].decode('ascii')
        j = line[:-suffix_len] + b'}'
        e = json.loads(j)
        problem = None
        if e['seq'] != i:
            problem = 'seq %d' % e['seq']
        elif e['prev'] != prev:
            problem = 'prev'
        elif i == 0 and not (e['kind'] == 'init' and e['epoch'] == 0 and e['time'] == t0
                             and e['interval'] == interval):
            problem = 'not the init of this key'
        elif last is not None and (e['epoch'] < last['epoch'] or e['time'] < last['time']):
            problem = 'epoch or time decreases'
        elif not (t0 + e['epoch'] * interval <= e['time'] < t0 + (e['epoch'] + 1) * interval):
            problem = 'time outside its epoch'
        elif not hmac.compare_digest(
                hmac.new(key_of(e['epoch']), j, hashlib.sha256).hexdigest(), mac):
            problem = 'mac does not verify'
        if problem:
            print('ledger: entry %d: %s' % (i, problem))
            failed = True
            break
        if 'file' in e:
            files.setdefault(e['file'], []).append(e)
        prev = hashlib.sha256(line + b'\n').hexdigest()
        last = e
    else:
        print('ledger: ok, %d entries' % len(lines))

    for name in sorted(files):
        entries = files[name]
        kinds = [e['kind'] for e in entries]
        path = os.path.join(directory, name)
        if 'prune' in kinds:
            print('%s: pruned' % name)
            continue
        if not os.path.isfile(path):
            print('%s: deleted' % name)
            failed = True
            continue
        with open(path, 'rb') as f:
            content = f.read()
        chain = None
        marks = {}
        for n, l in enumerate(content.split(b'\n')[:-1], start=1):
            chain = hashlib.sha256((chain or b'') + l + b'\n').digest()
            marks[n] = chain.hex()
        have = len(marks)
        word = 'ok'
        for e in entries:
            if e['lines'] > have:
                word = 'truncated'
            elif marks[e['lines']] != e['chain']:
                word = 'modified'
                break
        if word == 'ok' and 'close' in kinds and have > entries[kinds.index('close')]['lines']:
            word = 'appended-after-close'
        if word == 'ok' and have > entries[-1]['lines']:
            word = 'unsealed-tail'
        print('%s: %s' % (name, word))
        failed = failed or word not in ('ok', 'unsealed-tail')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1], sys.argv[2]))
