/**
 * The collector's numbers per device, for GET /metrics in Prometheus' text format: when it was
 * last heard from, the bytes it sent that were stored, and how long its last write took from the
 * request's start to the acknowledgement, and how often it was told to wait (too many of its
 * requests open at once). Kept in memory: each collector reports what it saw.
 */

interface DeviceNumbers {
  lastHeardMs: number;
  bytes: number;
  ackLagMs: number;
  requests: number;
  refusedBusy: number;
}

export class CollectorMetrics {
  readonly #devices = new Map<string, DeviceNumbers>();

  #of(device: string): DeviceNumbers {
    let d = this.#devices.get(device);
    if (!d) {
      d = { lastHeardMs: 0, bytes: 0, ackLagMs: 0, requests: 0, refusedBusy: 0 };
      this.#devices.set(device, d);
    }
    return d;
  }

  /** A request from `device` arrived. */
  heard(device: string, atMs = Date.now()): void {
    const d = this.#of(device);
    d.lastHeardMs = atMs;
    d.requests++;
  }

  /** A request from `device` was refused: too many of its requests were open (429). */
  refusedBusy(device: string): void {
    this.#of(device).refusedBusy++;
  }

  /** `bytes` from `device` were stored. */
  received(device: string, bytes: number): void {
    this.#of(device).bytes += bytes;
  }

  /** A PATCH from `device` was acknowledged `lagMs` after it began. */
  acknowledged(device: string, lagMs: number): void {
    this.#of(device).ackLagMs = lagMs;
  }

  /** The text of /metrics. */
  render(): string {
    const rows = [...this.#devices.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const family = (
      name: string,
      type: string,
      help: string,
      value: (d: DeviceNumbers) => number,
    ) =>
      [
        `# HELP ${name} ${help}`,
        `# TYPE ${name} ${type}`,
        ...rows.map(([device, d]) => `${name}{device="${device}"} ${value(d)}`),
      ].join('\n');
    return (
      [
        family(
          'sshcast_collect_last_heard_timestamp_seconds',
          'gauge',
          'When the device last sent a request, Unix seconds.',
          (d) => d.lastHeardMs / 1000,
        ),
        family(
          'sshcast_collect_received_bytes_total',
          'counter',
          'Bytes from the device stored in the object store.',
          (d) => d.bytes,
        ),
        family(
          'sshcast_collect_ack_lag_seconds',
          'gauge',
          "Time from the start of the device's last write to its acknowledgement.",
          (d) => d.ackLagMs / 1000,
        ),
        family(
          'sshcast_collect_requests_total',
          'counter',
          'Requests from the device.',
          (d) => d.requests,
        ),
        family(
          'sshcast_collect_refused_busy_total',
          'counter',
          'Requests from the device refused because too many of its requests were open (429).',
          (d) => d.refusedBusy,
        ),
      ].join('\n') + '\n'
    );
  }
}
