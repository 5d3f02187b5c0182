/**
 * @haven/bus: fan-out of Haven events over NATS JetStream, with trace context in the headers.
 */
export type {
  BusLogger,
  BusSubscribeOptions,
  BusSubscription,
  DeliveryContext,
  EventBusConnectOptions,
  EventBusOptions,
} from './bus';
export { EventBus, BUS_STREAM, BUS_SUBJECT_PREFIX, busSubject } from './bus';
export { DEFAULT_RELAY_WINDOW, startRelay } from './relay';
export type { RelayOptions } from './relay';
