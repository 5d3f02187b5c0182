import { RetentionPolicy, type StreamConfig } from 'nats';
import { HavenStream, havenStreamSpec, streamDeviations } from './nats-streams';

const spec = havenStreamSpec(HavenStream.EventStore);
const provisioned = spec.config() as StreamConfig;
const deviations = (over: Partial<StreamConfig>) =>
  streamDeviations(spec, { config: { ...provisioned, ...over } });

describe('the settings of HAVEN_ES that let events go (what the store watch reports)', () => {
  it('given the configuration the operator provisions, finds none', () => {
    expect(deviations({})).toEqual([]);
  });

  it('given retention limits, deletes, purges or roll-ups allowed, names each with its value', () => {
    expect(
      deviations({
        max_msgs: 60,
        max_age: 3_600_000_000_000,
        deny_delete: false,
        deny_purge: false,
        allow_rollup_hdrs: true,
        retention: RetentionPolicy.Workqueue,
      }),
    ).toEqual([
      { setting: 'retention', value: '"workqueue"', expected: '"limits"' },
      { setting: 'max_age', value: '3600000000000', expected: '0' },
      { setting: 'max_msgs', value: '60', expected: '-1' },
      { setting: 'deny_delete', value: 'false', expected: 'true' },
      { setting: 'deny_purge', value: 'false', expected: 'true' },
      { setting: 'allow_rollup_hdrs', value: 'true', expected: 'false' },
    ]);
  });

  it('given subjects that no longer cover every aggregate, says so', () => {
    expect(deviations({ subjects: ['haven.es.identity.>'] })).toEqual([
      { setting: 'subjects', value: '["haven.es.identity.>"]', expected: '["haven.es.>"]' },
    ]);
  });
});
