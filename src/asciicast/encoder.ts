/**
 * The pure asciicast v2 encoder: header and events in, complete lines out (each ends with LF).
 * No I/O. Lone surrogates never reach the output: they become U+FFFD.
 */
import { DEFAULT_SIZE, type Event, type Header } from './event.js';
import { formatTime } from './time.js';

/** A JSON string literal with any lone surrogate replaced by U+FFFD. */
export function jsonString(text: string): string {
  return JSON.stringify(text.isWellFormed() ? text : text.toWellFormed());
}

function positive(n: number | undefined): number {
  return n !== undefined && Number.isInteger(n) && n > 0 ? n : 0;
}

/** Encodes the header line: keys in the order of the format, a 0 or missing size as 80x24. */
export function encodeHeader(header: Header): string {
  let width = positive(header.width);
  let height = positive(header.height);
  if (width === 0 || height === 0) {
    width = DEFAULT_SIZE.cols;
    height = DEFAULT_SIZE.rows;
  }
  let line = `{"version":2,"width":${width},"height":${height}`;
  if (header.timestamp !== undefined) line += `,"timestamp":${Math.floor(header.timestamp)}`;
  if (header.idle_time_limit !== undefined && Number.isFinite(header.idle_time_limit)) {
    line += `,"idle_time_limit":${header.idle_time_limit}`;
  }
  if (header.command !== undefined) line += `,"command":${jsonString(header.command)}`;
  if (header.title !== undefined) line += `,"title":${jsonString(header.title)}`;
  if (header.env !== undefined) {
    const parts: string[] = [];
    if (header.env.TERM !== undefined) parts.push(`"TERM":${jsonString(header.env.TERM)}`);
    if (header.env.SHELL !== undefined) parts.push(`"SHELL":${jsonString(header.env.SHELL)}`);
    line += `,"env":{${parts.join(',')}}`;
  }
  if (header.localUser !== undefined) line += `,"localUser":${jsonString(header.localUser)}`;
  return line + '}\n';
}

/** Encodes one event line `[time, code, data]`. */
export function encodeEvent(event: Event): string {
  return `[${formatTime(event.time)},"${event.code}",${jsonString(event.data)}]\n`;
}

/** Encodes a whole recording (header and events) as one string. */
export function encodeCast(header: Header, events: Iterable<Event>): string {
  let out = encodeHeader(header);
  for (const event of events) out += encodeEvent(event);
  return out;
}
