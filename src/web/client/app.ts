/**
 * The replay page's browser code (served as /assets/app.js; it imports nothing at run time).
 * Every value taken from a recording is put into the DOM with `textContent` or as an attribute
 * value, never as HTML: a header's `command` or `localUser` is written in part by a session's user.
 */
// A type only: erased from the served app.js, which stays free of imports.
import type { CastSummary } from '../../asciicast/summary.js';
import type { SealMark } from '../../sealing/ledger-index.js';

/** A listed recording; `sealed` only in a sealed directory (null: never in its ledger). */
type Summary = CastSummary & { sealed?: SealMark | null };

interface PlayerApi {
  dispose(): void;
  getCurrentTime(): number;
  play(): Promise<unknown>;
  pause(): Promise<unknown>;
  seek(location: number | { marker: number }): Promise<unknown>;
  addEventListener(name: string, handler: (event?: unknown) => void): void;
}

declare const AsciinemaPlayer: {
  create(src: unknown, el: HTMLElement, opts: Record<string, unknown>): PlayerApi;
};

/** Above this size the replay view asks before loading a recording. */
const LARGE_RECORDING_BYTES = 256 * 1024 * 1024;

function $(id: string): HTMLElement {
  const found = document.getElementById(id);
  if (!found) throw new Error(`missing #${id}`);
  return found;
}

/** Creates an element whose content is text only. */
function el(tag: string, text?: string, className?: string): HTMLElement {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (className) e.className = className;
  return e;
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

function localDate(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

function when(s: Summary): string {
  const ms = s.start !== undefined ? s.start * 1000 : s.mtimeMs;
  if (!ms) return '—';
  const d = new Date(ms);
  return `${localDate(ms)} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function duration(seconds: number | undefined): string {
  if (seconds === undefined) return '—';
  const t = Math.floor(seconds);
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  return h ? `${h}:${pad(m)}:${pad(t % 60)}` : `${m}:${pad(t % 60)}`;
}

function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let i = -1;
  do {
    v /= 1024;
    i++;
  } while (v >= 1024 && i < units.length - 1);
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

function statusText(s: Summary): string {
  return recordingStatus(s) + sealText(s);
}

function recordingStatus(s: Summary): string {
  if (s.status === 'damaged') return `damaged: ${s.problem ?? 'unreadable'}`;
  if (!s.hasEvents) return 'no output yet';
  if (s.status === 'partial') return 'in progress or cut short';
  return s.exit !== undefined ? `exit ${s.exit}` : 'ended';
}

/** What the ledger says (not verified: `sshcast verify` does that with the key). */
function sealText(s: Summary): string {
  if (s.sealed === undefined) return '';
  if (s.sealed === null) return ' · not sealed';
  return ` · sealed through line ${s.sealed.lines}`;
}

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url, { credentials: 'same-origin' });
  if (!res.ok) throw new Error(`${res.status} ${(await res.text()).trim()}`);
  return (await res.json()) as T;
}

function viewUrl(file: string): string {
  return `/view?file=${encodeURIComponent(file)}`;
}

async function listView(): Promise<void> {
  const body = document.querySelector('#recordings tbody') as HTMLTableSectionElement;
  let all: Summary[];
  try {
    all = await getJson<Summary[]>('/api/recordings');
  } catch (err) {
    $('summary').textContent = '';
    const box = $('list-error');
    box.textContent = `Could not list recordings: ${(err as Error).message}`;
    box.hidden = false;
    return;
  }
  const userSelect = $('f-user') as HTMLSelectElement;
  for (const user of [...new Set(all.map((s) => s.localUser ?? ''))].sort()) {
    if (!user) continue;
    const opt = el('option', user) as HTMLOptionElement;
    opt.value = user;
    userSelect.append(opt);
  }
  const rows = all.map((s) => {
    const tr = el(
      'tr',
      undefined,
      s.status === 'damaged' ? 'damaged' : undefined,
    ) as HTMLTableRowElement;
    tr.dataset.file = s.file;
    const start = el('td', undefined, 'when');
    const link = el('a', when(s)) as HTMLAnchorElement;
    link.href = viewUrl(s.file);
    link.title = s.file;
    start.append(link);
    const cmd = el('td', undefined, 'cmd');
    if (s.command !== undefined) cmd.append(el('code', s.command));
    else if (s.width === undefined) cmd.append(el('span', s.file, 'muted'));
    else cmd.append(el('span', s.title ?? 'shell', 'muted'));
    tr.append(
      start,
      el('td', duration(s.duration), 'num'),
      el('td', size(s.size), 'num'),
      el('td', s.localUser ?? '—'),
      cmd,
      el('td', statusText(s), `status status-${s.status}`),
    );
    return { s, tr };
  });
  body.append(...rows.map((r) => r.tr));

  const command = $('f-command') as HTMLInputElement;
  const from = $('f-from') as HTMLInputElement;
  const to = $('f-to') as HTMLInputElement;
  const apply = (): void => {
    const user = userSelect.value;
    const needle = command.value.trim().toLowerCase();
    let shown = 0;
    for (const { s, tr } of rows) {
      const day =
        s.start !== undefined || s.mtimeMs
          ? localDate(s.start !== undefined ? s.start * 1000 : s.mtimeMs)
          : '';
      const ok =
        (!user || s.localUser === user) &&
        (!needle || (s.command ?? 'shell').toLowerCase().includes(needle)) &&
        (!from.value || day >= from.value) &&
        (!to.value || day <= to.value);
      tr.hidden = !ok;
      if (ok) shown++;
    }
    $('summary').textContent =
      shown === all.length
        ? `${all.length} recording${all.length === 1 ? '' : 's'}`
        : `${shown} of ${all.length} recordings`;
  };
  for (const input of [userSelect, command, from, to]) input.addEventListener('input', apply);
  $('filters').addEventListener('submit', (e) => e.preventDefault());
  apply();
}

interface Parsed {
  width: number;
  height: number;
  events: number;
  markers: { time: number; label: string }[];
  /** Raw event times and codes, to place the poster. */
  times: { time: number; code: string }[];
}

/** Checks the served text line by line, so a damaged file gets a clear message instead of a player failure. */
function parseCast(text: string): Parsed {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  if (lines.length === 0) throw new Error('the file is empty');
  let header: {
    version?: unknown;
    width?: unknown;
    height?: unknown;
    term?: { cols?: unknown; rows?: unknown };
  };
  try {
    header = JSON.parse(lines[0]!) as typeof header;
  } catch {
    throw new Error('line 1: the header is not valid JSON');
  }
  if (header.version !== 2 && header.version !== 3)
    throw new Error('line 1: not an asciicast v2 or v3 header');
  const v3 = header.version === 3;
  const out: Parsed = {
    width: Number(v3 ? header.term?.cols : header.width) || 80,
    height: Number(v3 ? header.term?.rows : header.height) || 24,
    events: 0,
    markers: [],
    times: [],
  };
  let clock = 0;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (v3 && (line.startsWith('#') || line.trim() === '')) continue;
    let ev: unknown;
    try {
      ev = JSON.parse(line);
    } catch {
      throw new Error(`line ${i + 1}: not valid JSON`);
    }
    if (
      !Array.isArray(ev) ||
      ev.length !== 3 ||
      typeof ev[0] !== 'number' ||
      typeof ev[1] !== 'string'
    ) {
      throw new Error(`line ${i + 1}: not an event [time, code, data]`);
    }
    clock = v3 ? clock + ev[0] : ev[0];
    out.events++;
    out.times.push({ time: clock, code: ev[1] });
    if (ev[1] === 'm') out.markers.push({ time: clock, label: String(ev[2]) });
  }
  return out;
}

/**
 * Where the poster shows the recording: the first screen once the first burst of output settles
 * (the last event before a pause of a second), in the player's timeline after the idle limit.
 */
function posterTime(times: Parsed['times'], idleLimit: number | undefined): number {
  let shift = 0;
  let prev = 0;
  let seenOutput = false;
  let at = 0;
  for (const { time, code } of times) {
    const gap = time - prev;
    if (idleLimit !== undefined && gap > idleLimit) shift += gap - idleLimit;
    if (seenOutput && gap > 1) break;
    prev = time;
    at = time - shift;
    if (code === 'o') seenOutput = true;
  }
  // The poster shows events strictly before its time.
  return Math.min(at, 30) + 0.001;
}

async function replayView(): Promise<void> {
  const file = new URLSearchParams(location.search).get('file') ?? '';
  const errorBox = $('error');
  const fail = (message: string): void => {
    errorBox.textContent = message;
    errorBox.hidden = false;
  };
  let summary: Summary;
  try {
    summary = await getJson<Summary>(`/api/recordings/${encodeURIComponent(file)}`);
  } catch (err) {
    $('title').textContent = file || 'No recording';
    return fail(`Cannot open this recording: ${(err as Error).message}`);
  }
  const title = summary.command ?? summary.title ?? 'shell';
  $('title').textContent = title;
  document.title = `${title} — sshcast replay`;
  $('meta').textContent = [
    summary.localUser ?? 'unknown user',
    when(summary),
    duration(summary.duration),
    size(summary.size),
    statusText(summary),
    summary.term !== undefined ? `TERM ${summary.term}` : undefined,
    summary.file,
  ]
    .filter((part) => part !== undefined)
    .join(' · ');
  if (summary.status === 'damaged')
    return fail(`This recording is damaged: ${summary.problem ?? 'unreadable'}`);
  // The player holds the whole recording in the browser: ask before loading a huge one.
  if (summary.size > LARGE_RECORDING_BYTES) {
    const notice = $('large');
    notice.prepend(
      `This recording is ${size(summary.size)}; the player loads all of it into this tab. `,
    );
    notice.hidden = false;
    await new Promise<void>((resolve) =>
      $('load-anyway').addEventListener('click', () => resolve(), { once: true }),
    );
    notice.hidden = true;
  }

  let text: string;
  let parsed: Parsed;
  try {
    const res = await fetch(`/files/${encodeURIComponent(file)}`, { credentials: 'same-origin' });
    if (!res.ok) throw new Error(`${res.status} ${(await res.text()).trim()}`);
    text = await res.text();
    parsed = parseCast(text);
  } catch (err) {
    return fail(`This recording cannot be played: ${(err as Error).message}`);
  }
  if (parsed.events === 0) return fail('This recording has no events yet: nothing to play.');

  const speed = $('speed') as HTMLSelectElement;
  const idle = $('idle') as HTMLSelectElement;
  const box = $('player');
  let player: PlayerApi | undefined;
  let playing = false;

  const create = (startAt: number | undefined, autoPlay: boolean): void => {
    player?.dispose();
    box.replaceChildren();
    const idleLimit = idle.value ? Number(idle.value) : undefined;
    const opts: Record<string, unknown> = {
      speed: Number(speed.value) || 1,
      // Infinity turns off an idle limit the file's header may set.
      idleTimeLimit: idleLimit ?? Infinity,
      fit: 'both',
      controls: true,
      autoPlay,
      preload: true,
      logger: {
        log() {},
        debug() {},
        info() {},
        warn() {},
        error(...args: unknown[]) {
          fail(`The player failed: ${args.map(String).join(' ')}`);
        },
      },
    };
    // A paused player shows its place through the poster (startAt alone shows an empty terminal).
    if (autoPlay && startAt !== undefined) opts.startAt = startAt;
    else opts.poster = `npt:${startAt ?? posterTime(parsed.times, idleLimit)}`;
    const p = AsciinemaPlayer.create({ data: text }, box, opts);
    p.addEventListener('play', () => (playing = true));
    p.addEventListener('playing', () => (playing = true));
    p.addEventListener('pause', () => (playing = false));
    p.addEventListener('ended', () => (playing = false));
    p.addEventListener('error', () => fail('The player could not load this recording.'));
    player = p;
  };
  const recreate = (): void => {
    const at = player?.getCurrentTime();
    // Before the player has loaded (or at 0) it has no place to keep: show the poster again.
    create(at !== undefined && Number.isFinite(at) && at > 0 ? at : undefined, playing);
  };
  speed.addEventListener('change', recreate);
  idle.addEventListener('change', recreate);
  $('controls').addEventListener('submit', (e) => e.preventDefault());
  create(undefined, false);
  box.dataset.ready = 'true';

  if (parsed.markers.length) {
    const list = $('chapters');
    parsed.markers.forEach((m, index) => {
      const li = el('li');
      const button = el('button', m.label || `marker ${index + 1}`) as HTMLButtonElement;
      button.type = 'button';
      button.addEventListener('click', () => void player?.seek({ marker: index }));
      li.append(button, el('span', ` ${duration(m.time)}`, 'muted'));
      list.append(li);
    });
    $('chapters-box').hidden = false;
  }
}

if (location.pathname === '/view') void replayView();
else void listView();
