/**
 * The replay page's static HTML and CSS. The HTML holds no data and no inline script: everything
 * shown is fetched as JSON and put in the DOM as text by `client/app.ts`.
 */

import { CLIENT_ENTRY } from './client-modules.js';

function shell(title: string, body: string, player: boolean): string {
  const playerTags = player
    ? '<link rel="stylesheet" href="/assets/player.css">\n<script src="/assets/player.js" defer></script>\n'
    : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>${title}</title>
<link rel="stylesheet" href="/assets/app.css">
${playerTags}<script type="module" src="${CLIENT_ENTRY}"></script>
</head>
<body>
${body}
</body>
</html>
`;
}

/** The list of recordings. */
export const LIST_PAGE = shell(
  'sshcast recordings',
  `<header><h1>Recordings</h1><p id="summary" class="muted">Loading…</p></header>
<main id="list-view">
<form id="filters" class="filters" autocomplete="off">
<label id="f-device-box" hidden>Device <select id="f-device"><option value="">all</option></select></label>
<label>User <select id="f-user"><option value="">all</option></select></label>
<label>Command <input id="f-command" type="search" placeholder="contains…"></label>
<label>From <input id="f-from" type="date"></label>
<label>To <input id="f-to" type="date"></label>
</form>
<p id="list-error" class="error" hidden></p>
<table id="recordings">
<thead><tr><th id="h-device" hidden>Device</th><th>Start</th><th>Duration</th><th>Size</th><th>User</th><th>Command</th><th>Status</th></tr></thead>
<tbody></tbody>
</table>
</main>`,
  false,
);

/** The replay view of one recording (`/view?file=NAME`). */
export const VIEW_PAGE = shell(
  'sshcast replay',
  `<header><p><a href="/" id="back">← All recordings</a></p><h1><span id="live-badge" class="live-badge" hidden>LIVE</span><span id="title">Loading…</span></h1><p id="meta" class="muted"></p></header>
<main id="replay-view">
<form id="controls" class="controls" autocomplete="off">
<label>Speed <select id="speed"><option value="0.5">0.5×</option><option value="1" selected>1×</option><option value="1.5">1.5×</option><option value="2">2×</option><option value="4">4×</option><option value="8">8×</option></select></label>
<label>Idle limit <select id="idle"><option value="">off</option><option value="0.5">0.5 s</option><option value="1">1 s</option><option value="2" selected>2 s</option><option value="5">5 s</option></select></label>
<span class="muted">Space: play/pause · ←/→: seek · [ ]: chapters · . : step</span>
</form>
<p id="error" class="error" hidden></p>
<p id="large" hidden><button id="load-anyway" type="button">Load it anyway</button></p>
<p id="live-status" hidden><span id="live-text"></span> <button id="replay-start" type="button">Replay from the start</button></p>
<div id="player"></div>
<section id="chapters-box" hidden><h2>Chapters</h2><ol id="chapters"></ol></section>
</main>`,
  true,
);

/** The page's own styles (the player brings its own CSS). */
export const PAGE_CSS = `:root { color-scheme: light dark; --muted: #777; --bad: #c0392b; --warn: #b9770e; }
[hidden] { display: none !important; }
body { font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1200px; padding: 1rem 1.5rem; }
h1 { font-size: 1.4rem; margin: .2rem 0; word-break: break-all; }
h2 { font-size: 1.1rem; }
.muted { color: var(--muted); }
.error { color: var(--bad); font-weight: 600; }
.filters, .controls { display: flex; flex-wrap: wrap; gap: 1rem; align-items: center; margin: .8rem 0; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid #8884; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.when { white-space: nowrap; }
td.cmd code { word-break: break-all; }
tr.damaged td { color: var(--bad); }
.status-partial { color: var(--warn); }
.status-live, .live-badge { color: #fff; background: var(--bad); border-radius: .3rem; padding: 0 .4rem; font-weight: 600; font-size: .85em; }
.live-badge { margin-right: .5rem; vertical-align: middle; }
.status-damaged { color: var(--bad); }
#player { margin: .5rem 0; height: min(70vh, 760px); }
#chapters button { font: inherit; background: none; border: none; color: LinkText; cursor: pointer; padding: 0; text-decoration: underline; }
`;
