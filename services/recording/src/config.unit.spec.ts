import { loadConfig, type ConfigError } from '@haven/service';
import { recordingConfigSchema } from './server';

const problemsOf = (env: Record<string, string>): string[] => {
  try {
    loadConfig(recordingConfigSchema, env);
    return [];
  } catch (error) {
    return (error as ConfigError).problems.map((p) => p.variable);
  }
};

describe('the recording service’s role', () => {
  it('does everything by default, as the dev stack runs it', () => {
    expect(loadConfig(recordingConfigSchema, {}).HAVEN_RECORDING_ROLE).toBe('all');
  });

  it('needs no recordings folder as the API', () => {
    expect(problemsOf({ HAVEN_RECORDING_ROLE: 'api', HAVEN_DATA_DIR: '/d' })).toEqual([]);
  });

  it('needs its Janus node, the folder it shares with it and the data directory as a processor', () => {
    expect(problemsOf({ HAVEN_RECORDING_ROLE: 'processor' })).toEqual([
      'HAVEN_RECORDING_JANUS_NODE',
      'HAVEN_RECORDINGS_DIR',
      'HAVEN_DATA_DIR',
    ]);
    expect(
      problemsOf({
        HAVEN_RECORDING_ROLE: 'processor',
        HAVEN_RECORDING_JANUS_NODE: 'janus-1',
        HAVEN_RECORDINGS_DIR: '/srv/haven/recordings',
        HAVEN_DATA_DIR: '/d',
      }),
    ).toEqual([]);
    expect(problemsOf({ HAVEN_RECORDING_ROLE: 'sidecar' })).toEqual(['HAVEN_RECORDING_ROLE']);
  });
});
