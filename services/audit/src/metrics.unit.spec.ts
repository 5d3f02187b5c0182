import type { Meter, ObservableCallback } from '@opentelemetry/api';
import { LastRunGauge } from './metrics';

/** A meter that keeps the gauge's options and callback, and a collection that returns what it observed. */
function fakeMeter() {
  const gauges: { name: string; options: unknown; callback?: ObservableCallback }[] = [];
  const meter = {
    createObservableGauge: (name: string, options: unknown) => {
      const gauge: (typeof gauges)[number] = { name, options };
      gauges.push(gauge);
      return { addCallback: (callback: ObservableCallback) => (gauge.callback = callback) };
    },
  } as unknown as Meter;
  const collect = async (): Promise<number[]> => {
    const observed: number[] = [];
    await gauges[0]?.callback?.({ observe: (v: number) => observed.push(v) });
    return observed;
  };
  return { meter, gauges, collect };
}

describe('LastRunGauge', () => {
  it('is a gauge in seconds under its name and description', () => {
    const { meter, gauges } = fakeMeter();
    new LastRunGauge('haven.audit.test_timestamp', 'When the test last ran', meter);
    expect(gauges.map(({ name, options }) => ({ name, options }))).toEqual([
      { name: 'haven.audit.test_timestamp', options: { description: 'When the test last ran', unit: 's' } },
    ]);
  });

  it('reports nothing before the first run', async () => {
    const { meter, collect } = fakeMeter();
    new LastRunGauge('haven.audit.test_timestamp', 'When the test last ran', meter);
    expect(await collect()).toEqual([]);
  });

  it('reports the last run in whole seconds since the epoch', async () => {
    const { meter, collect } = fakeMeter();
    const gauge = new LastRunGauge('haven.audit.test_timestamp', 'When the test last ran', meter);
    gauge.mark(1_765_000_000_999);
    gauge.mark(1_765_000_123_456);
    expect(await collect()).toEqual([1_765_000_123]);
  });
});
