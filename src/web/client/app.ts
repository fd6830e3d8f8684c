/**
 * The replay page's browser code, served as native ES modules under /assets/ (see
 * ../client-modules.ts): it imports only its own modules and sshcast's browser-safe ones (the
 * line parser, the units of `sshcast ls`). Every value taken from a recording is put into the DOM
 * with `textContent` or as an attribute value, never as HTML: a header's `command` or
 * `localUser` is written in part by a session's user.
 */
import { listView } from './list-view.js';
import { replayView } from './replay-view.js';

if (location.pathname === '/view') void replayView();
else void listView();
