/**
 * The idle logoff timeout the gateway applies (/api/me tells the page; the live channel signs staff out): the
 * clinic's, when an admin saved one (scheduling's ClinicSettingsChanged, followed from the event store with the
 * gateway's own NATS user), else the deployment's HAVEN_IDLE_TIMEOUT_SEC.
 */
import type { ConsumerHealth, EventStore } from '@haven/eventstore';
import {
  CLINIC_SETTING_DEFAULTS,
  followClinicSettings,
  type ClinicSettingsFeed,
  type Logger,
} from '@haven/service';

/** Follows the clinic's settings; only the idle timeout is the gateway's (the other defaults are never read). */
export function followGatewayClinicSettings(
  store: Pick<EventStore, 'read' | 'subscribe' | 'head'>,
  options: { readonly health?: ConsumerHealth; readonly logger?: Logger } = {},
): Promise<ClinicSettingsFeed> {
  return followClinicSettings(store, {
    name: 'gateway.clinic-settings',
    defaults: CLINIC_SETTING_DEFAULTS,
    ...(options.health ? { health: options.health } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
  });
}

/** The idle logoff timeout in force, seconds: the clinic's when an admin saved one, else the deployment's. */
export function idleTimeoutSecOf(
  clinicSettings: Pick<ClinicSettingsFeed, 'current'> | undefined,
  deploymentSec: number,
): () => number {
  return () => clinicSettings?.current().idleTimeoutSeconds ?? deploymentSec;
}
