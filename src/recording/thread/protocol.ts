/**
 * What the server's thread and the recording thread say to each other. The server's thread
 * stamps each event and appends it to a batch, a run of records `[code u8][time f64][length u32]
 * [data]` (the code is the event's letter, the time in microseconds, the data UTF-8); the
 * recording thread encodes, seals and writes them, and reports what it wrote.
 */

/** Bytes before each record's data. */
export const RECORD_HEAD = 13;
/**
 * The record that cuts the recording (a disk limit): its data is the `m` event's label. The
 * server's thread admits each event before it sends it, as the writer on its own thread does.
 */
export const CUT = 0x43; // 'C'

/** Server's thread → recording thread. */
export type ToThread =
  | {
      t: 'open';
      id: number;
      /** The file, its header written: the thread writes after it and closes it. */
      fd: number;
      path: string;
      /** The header's length. */
      bytes: number;
      maxBytes: number;
      fsync: boolean;
      /** An Int32 the thread adds 1 to as it writes each batch. */
      done: SharedArrayBuffer;
      /** The header line, when the recording is sealed: the thread's chain starts with it. */
      header: ArrayBuffer | undefined;
    }
  | { t: 'data'; id: number; buf: ArrayBuffer; used: number }
  | { t: 'finish'; id: number };

/** Recording thread → server's thread. */
export type FromThread =
  | {
      t: 'progress';
      id: number;
      /** Batch bytes written (the server's thread may send as much again). */
      acked: number;
      /** Bytes and lines of the recording so far. */
      bytes: number;
      lines: number;
      /** Bytes of whole lines in the file. */
      written: number;
      /** Bytes of the event lines written so far, for the disk limits (the header not counted). */
      admitted: number;
      /** Whether the size cap or a cut ended the recording (only its `x` is still written). */
      capped: boolean;
      /** Sealed recordings: each new line's end offset, and its 32-byte chain digest. */
      ends: Float64Array | undefined;
      digests: ArrayBuffer | undefined;
    }
  | { t: 'error'; id: number; message: string; code: string | undefined }
  | { t: 'closed'; id: number; bytes: number; lines: number };
