/**
 * The live view of a recording still being written: asciinema-player's `eventsource` driver on
 * the recording's stream. The stream's URL carries a ticket asked for with the token (an
 * EventSource cannot send headers); its first message paints the present screen, then new output
 * follows as it is written, until the server's `done`, when the page says the session ended and
 * offers the replay from the start. The stream is one-way: nothing typed here reaches the session.
 */
import type { Summary } from './summary-text.js';
import { getJson, postJson } from './api.js';
import { $ } from './dom.js';
import { createPlayer, playerLogger, type PlayerApi } from './player.js';

interface Ticket {
  url: string;
}

/** How often the page asks whether the recording is still live, in case its stream broke. */
const CHECK_MS = 5000;

/** Plays `file` live; `replay` plays it from the start (the button, or a recording not live). */
export async function liveView(file: string, replay: () => void): Promise<void> {
  const box = $('player');
  const badge = $('live-badge');
  const status = $('live-status');
  const text = $('live-text');
  const errorBox = $('error');
  const fail = (message: string): void => {
    errorBox.textContent = message;
    errorBox.hidden = false;
  };
  $('controls').hidden = true;

  let ticket: Ticket;
  try {
    ticket = await postJson<Ticket>(`/api/live/${encodeURIComponent(file)}/ticket`);
  } catch (err) {
    const message = (err as Error).message;
    // It ended between the summary and the ticket: play what it holds.
    if (message.startsWith('409')) return replay();
    return fail(`Cannot watch this session live: ${message}`);
  }

  let player: PlayerApi | undefined;
  let ended = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stop = (): void => {
    clearTimeout(timer);
    player?.dispose();
    player = undefined;
    box.replaceChildren();
  };
  const end = async (): Promise<void> => {
    if (ended) return;
    ended = true;
    clearTimeout(timer);
    badge.hidden = true;
    box.dataset.live = 'ended';
    let how = '';
    try {
      const s = await getJson<Summary>(`/api/recordings/${encodeURIComponent(file)}`);
      if (s.exit !== undefined) how = ` (exit ${s.exit})`;
      else if (s.status !== 'live') how = ': its recorder is gone (stopped or crashed)';
    } catch {
      // The words stay general.
    }
    text.textContent = `The session ended${how}.`;
  };

  $('replay-start').addEventListener('click', () => {
    ended = true;
    stop();
    status.hidden = true;
    badge.hidden = true;
    delete box.dataset.live;
    replay();
  });

  badge.hidden = false;
  text.textContent = 'Watching live: new output appears as it is written.';
  status.hidden = false;
  player = createPlayer(
    // No buffer: each event is shown as it arrives.
    { driver: 'eventsource', url: ticket.url, bufferTime: 0 },
    box,
    { autoPlay: true, fit: 'both', controls: false, logger: playerLogger(fail) },
  );
  player.addEventListener('reset', () => (box.dataset.live = 'playing'));
  player.addEventListener('ended', () => void end());
  box.dataset.ready = 'true';

  // A stream that broke for good (the server restarted, the ticket ran out) ends no other way.
  const check = async (): Promise<void> => {
    if (ended) return;
    try {
      const s = await getJson<Summary>(`/api/recordings/${encodeURIComponent(file)}`);
      if (s.status !== 'live') return void (await end());
    } catch {
      // Asked again below.
    }
    timer = setTimeout(() => void check(), CHECK_MS);
  };
  timer = setTimeout(() => void check(), CHECK_MS);
}
