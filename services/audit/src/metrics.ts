/** Instruments the audit service's checks share. */
import { metrics, type Meter } from '@opentelemetry/api';

/**
 * A gauge of when a check last ran, in seconds since the epoch (unit `s`), read at each collection; it reports
 * nothing until the first {@link LastRunGauge.mark} (an alert on its age must not fire on a fresh start).
 */
export class LastRunGauge {
  #seconds = 0;

  constructor(name: string, description: string, meter: Meter = metrics.getMeter('@haven/audit')) {
    meter.createObservableGauge(name, { description, unit: 's' }).addCallback((r) => {
      if (this.#seconds > 0) r.observe(this.#seconds);
    });
  }

  /** The check ran at `ms` (now unless given). */
  mark(ms = Date.now()): void {
    this.#seconds = Math.floor(ms / 1000);
  }
}
