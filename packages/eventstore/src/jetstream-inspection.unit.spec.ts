import { DiscardPolicy, RetentionPolicy, StorageType, type StreamConfig } from 'nats';
import { streamDeviations } from './jetstream-inspection';

const intact: Partial<StreamConfig> = {
  name: 'HAVEN_ES',
  subjects: ['haven.es.>'],
  retention: RetentionPolicy.Limits,
  storage: StorageType.File,
  discard: DiscardPolicy.Old,
  max_msgs: -1,
  max_bytes: -1,
  max_age: 0,
  max_msgs_per_subject: -1,
  deny_delete: true,
  deny_purge: true,
  allow_rollup_hdrs: false,
};

describe('the settings of HAVEN_ES that let events go', () => {
  it('given the configuration the store creates, finds none', () => {
    expect(streamDeviations(intact, 'haven.es')).toEqual([]);
  });

  it('given retention limits, deletes, purges or roll-ups allowed, names each with its value', () => {
    const weakened = {
      ...intact,
      max_msgs: 60,
      max_age: 3_600_000_000_000,
      max_bytes: 0,
      deny_delete: false,
      deny_purge: false,
      allow_rollup_hdrs: true,
      retention: RetentionPolicy.Workqueue,
    };
    expect(streamDeviations(weakened, 'haven.es')).toEqual([
      { setting: 'retention', value: 'workqueue', expected: 'limits' },
      { setting: 'max_msgs', value: '60', expected: 'unlimited' },
      { setting: 'max_age', value: '3600000000000', expected: 'unlimited' },
      { setting: 'deny_delete', value: 'false', expected: 'true' },
      { setting: 'deny_purge', value: 'false', expected: 'true' },
      { setting: 'allow_rollup_hdrs', value: 'true', expected: 'false' },
    ]);
  });

  it('given subjects that no longer cover every aggregate, says so', () => {
    expect(streamDeviations({ ...intact, subjects: ['haven.es.identity.>'] }, 'haven.es')).toEqual([
      { setting: 'subjects', value: 'haven.es.identity.>', expected: 'haven.es.>' },
    ]);
  });
});
