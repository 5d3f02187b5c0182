import { ConfigError, loadConfig } from '@haven/service';
import { schedulingConfigSchema } from './server';

const env = { HAVEN_DATA_DIR: '/tmp/s', HAVEN_KEYRING_FILE: '/tmp/k.json' };

describe('scheduling configuration', () => {
  it('defaults the ports and the date-of-birth check', () => {
    const config = loadConfig(schedulingConfigSchema, env);
    expect(config.HAVEN_GRPC_PORT).toBe(20052);
    expect(config.HAVEN_HTTP_PORT).toBe(8083);
    expect(config.HAVEN_REQUIRE_DOB_CHECK).toBe(false);
  });
  it('reads HAVEN_REQUIRE_DOB_CHECK=true', () => {
    expect(
      loadConfig(schedulingConfigSchema, { ...env, HAVEN_REQUIRE_DOB_CHECK: 'true' }).HAVEN_REQUIRE_DOB_CHECK,
    ).toBe(true);
  });
  it('reads the clinic time zone, defaulting to the host zone, and refuses an unknown one', () => {
    expect(loadConfig(schedulingConfigSchema, env).HAVEN_CLINIC_TIME_ZONE).toBe(
      Intl.DateTimeFormat().resolvedOptions().timeZone,
    );
    expect(
      loadConfig(schedulingConfigSchema, { ...env, HAVEN_CLINIC_TIME_ZONE: 'Europe/Berlin' })
        .HAVEN_CLINIC_TIME_ZONE,
    ).toBe('Europe/Berlin');
    expect(() => loadConfig(schedulingConfigSchema, { ...env, HAVEN_CLINIC_TIME_ZONE: 'Mars/Base' })).toThrow(
      /HAVEN_CLINIC_TIME_ZONE/,
    );
  });
  it('requires the data directory and the keyring file', () => {
    expect(() => loadConfig(schedulingConfigSchema, {})).toThrow(ConfigError);
    expect(() => loadConfig(schedulingConfigSchema, {})).toThrow(
      /HAVEN_DATA_DIR[\s\S]*HAVEN_KEYRING_FILE|HAVEN_KEYRING_FILE[\s\S]*HAVEN_DATA_DIR/,
    );
  });
});
