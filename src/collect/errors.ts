/**
 * The errors the collector answers requests with. @tus/server sends a thrown object's
 * `status_code` and `body` as the response.
 */
import { SshcastError } from '../errors.js';

/** An HTTP answer to a tus request: status and a one-line body. */
export class TusError extends SshcastError {
  readonly status_code: number;
  readonly body: string;

  constructor(status: number, body: string) {
    super('ERR_COLLECT_REQUEST', body.trim());
    this.status_code = status;
    this.body = body.endsWith('\n') ? body : `${body}\n`;
  }
}
