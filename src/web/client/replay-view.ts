/**
 * The replay view of one recording (`/view?file=NAME`): its details, then asciinema-player with
 * speed, idle limit and chapters. A recording that cannot be played (damaged, empty, refused)
 * gets a page that says so, titled with its file name, and no player or player controls.
 */
import { getJson, getText } from './api.js';
import { $, el } from './dom.js';
import { liveView } from './live-view.js';
import { createPlayer, playerLogger, type PlayerApi } from './player.js';
import { outline, posterTime, type Outline } from './outline.js';
import { duration, size, statusText, when, type Summary } from './summary-text.js';

/** Above this size the replay view asks before loading a recording. */
const LARGE_RECORDING_BYTES = 256 * 1024 * 1024;

export function setTitle(title: string): void {
  $('title').textContent = title;
  document.title = `${title} — sshcast replay`;
}

/** A page for a recording that will not be played: the reason, and nothing to play it with. */
function refuse(file: string, why: string, message: string): void {
  setTitle(file ? `${file} (${why})` : 'No recording');
  $('controls').hidden = true;
  const box = $('error');
  box.textContent = message;
  box.hidden = false;
}

function describe(summary: Summary): string {
  return [
    summary.device !== undefined ? `device ${summary.device}` : undefined,
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
}

// The player holds the whole recording in the browser: ask before loading a huge one.
async function askIfLarge(summary: Summary): Promise<void> {
  if (summary.size <= LARGE_RECORDING_BYTES) return;
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

export async function replayView(): Promise<void> {
  const file = new URLSearchParams(location.search).get('file') ?? '';
  let summary: Summary;
  try {
    summary = await getJson<Summary>(`/api/recordings/${encodeURIComponent(file)}`);
  } catch (err) {
    return refuse(file, 'cannot open', `Cannot open this recording: ${(err as Error).message}`);
  }
  $('meta').textContent = describe(summary);
  if (summary.status === 'damaged')
    return refuse(file, 'damaged', `This recording is damaged: ${summary.problem ?? 'unreadable'}`);
  setTitle(summary.command ?? summary.title ?? 'shell');
  if (summary.status === 'live') return liveView(file, () => void replayFresh(file, summary));
  await replay(file, summary);
}

/** Replays a recording that was live: its summary read again, since it grew. */
async function replayFresh(file: string, before: Summary): Promise<void> {
  const summary = await getJson<Summary>(`/api/recordings/${encodeURIComponent(file)}`).catch(
    () => before,
  );
  $('meta').textContent = describe(summary);
  await replay(file, summary);
}

/** Plays the recording from the start: what is in the file now, complete lines only. */
async function replay(file: string, summary: Summary): Promise<void> {
  $('controls').hidden = false;
  await askIfLarge(summary);

  let text: string;
  let parsed: Outline;
  try {
    text = await getText(`/files/${encodeURIComponent(file)}`);
    parsed = outline(text);
  } catch (err) {
    return refuse(file, 'damaged', `This recording cannot be played: ${(err as Error).message}`);
  }
  if (parsed.events === 0)
    return refuse(file, 'no events', 'This recording has no events yet: nothing to play.');
  play(text, parsed);
}

function play(text: string, parsed: Outline): void {
  const errorBox = $('error');
  const fail = (message: string): void => {
    errorBox.textContent = message;
    errorBox.hidden = false;
  };
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
      logger: playerLogger(fail),
    };
    // A paused player shows its place through the poster (startAt alone shows an empty terminal).
    if (autoPlay && startAt !== undefined) opts.startAt = startAt;
    else opts.poster = `npt:${startAt ?? posterTime(parsed.times, idleLimit)}`;
    const p = createPlayer({ data: text }, box, opts);
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
