import { diag, type Attributes, type Context, type SpanStatus } from '@opentelemetry/api';
import type { ReadableSpan, Span, SpanProcessor } from '@opentelemetry/sdk-trace';
import type { IAttributesProcessor, ViewOptions } from '@opentelemetry/sdk-metrics';
import { ALLOWED_ATTRIBUTES } from './semconv';

/** A status message survives only if it looks like a code or class name (`DEADLINE_EXCEEDED`, `ValidationError`). */
const SAFE_STATUS_MESSAGE = /^[A-Za-z_][A-Za-z0-9_.]{0,63}$/;
const MAX_WARNED = 256;

/**
 * The PHI guard for traces: a span processor that deletes every attribute whose name is not in the
 * allow-list from the span, its events and its links, and drops free-text status messages. It must come
 * FIRST in the provider's processor list; it filters when the span ends (`onEnding`, before any exporter
 * sees it), or in `onEnd` for SDKs without `onEnding`. Dropped names (never values) are reported
 * once each through the OpenTelemetry diag logger.
 */
export class AllowListSpanProcessor implements SpanProcessor {
  readonly #allowed: ReadonlySet<string>;
  readonly #warned = new Set<string>();
  /** Set once the SDK calls `onEnding`: from then on `onEnd` sees spans already scrubbed. */
  #endingSeen = false;

  constructor(allowed: ReadonlySet<string> = ALLOWED_ATTRIBUTES) {
    this.#allowed = allowed;
  }

  onStart(span: Span, _parentContext: Context): void {
    this.#filter(span.attributes);
  }

  onEnding(span: Span): void {
    this.#endingSeen = true;
    this.#scrub(span);
  }

  onEnd(span: ReadableSpan): void {
    if (!this.#endingSeen) this.#scrub(span);
  }

  async forceFlush(): Promise<void> {}

  async shutdown(): Promise<void> {}

  #scrub(span: ReadableSpan): void {
    this.#filter(span.attributes);
    for (const event of span.events) if (event.attributes !== undefined) this.#filter(event.attributes);
    for (const link of span.links) if (link.attributes !== undefined) this.#filter(link.attributes);
    const status = span.status;
    if (status.message !== undefined && !SAFE_STATUS_MESSAGE.test(status.message)) {
      (span as { status: SpanStatus }).status = { code: status.code };
    }
  }

  #filter(attributes: Attributes): void {
    for (const key of Object.keys(attributes)) {
      if (this.#allowed.has(key)) continue;
      delete attributes[key];
      if (this.#warned.size < MAX_WARNED && !this.#warned.has(key)) {
        this.#warned.add(key);
        diag.warn(`@haven/telemetry: dropped attribute "${key}" (not in the allow-list in semconv.ts)`);
      }
    }
  }
}

/** Removes, in place, every attribute not in `allowed`; returns the same object. */
export function filterAttributes<T extends Attributes>(
  attributes: T,
  allowed: ReadonlySet<string> = ALLOWED_ATTRIBUTES,
): T {
  for (const key of Object.keys(attributes)) if (!allowed.has(key)) delete attributes[key];
  return attributes;
}

/** A metrics view applying the allow-list to the attributes of every instrument. */
export function allowListView(allowed: ReadonlySet<string> = ALLOWED_ATTRIBUTES): ViewOptions {
  const processor: IAttributesProcessor = {
    process: (incoming) => {
      const out: Attributes = {};
      for (const key of Object.keys(incoming)) if (allowed.has(key)) out[key] = incoming[key];
      return out;
    },
  };
  return { instrumentName: '*', attributesProcessors: [processor] };
}
