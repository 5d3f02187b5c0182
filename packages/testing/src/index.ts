/**
 * @haven/testing — Haven's test support (dev only): the one stack launcher, a real nats-server and Janus per
 * suite, built services as child processes, the TCP fault proxy, free ports.
 */
export { freePort } from './ports';
export { spawnChild, waitUntilReady } from './process';
export type { Child, ChildSpec, ProcessHooks } from './process';
export { startNatsServer } from './nats-server';
export type {
  NatsClientOptions,
  NatsServerHandle,
  NatsServiceEnv,
  NatsUserName,
  StartNatsServerOptions,
} from './nats-server';
export {
  attachVideoRoom,
  connectJanusWs,
  generateJanusConfig,
  janusRoomExists,
  randomJanusSecret,
  signJanusToken,
  startJanus,
} from './janus';
export type { JanusConfigOptions, JanusHandle, JanusWsClient, StartJanusOptions } from './janus';
export { REPO_ROOT, healthStatus, runService, startServiceProcess } from './service-process';
export type { RunServiceOptions, RunningService, ServiceProcess } from './service-process';
export { startFaultProxy } from './fault-proxy';
export type { FaultProxy, FaultProxyStats, Faults } from './fault-proxy';
export { STACK_SERVICES, launchStack } from './stack';
export type {
  LaunchStackOptions,
  LaunchedStack,
  StackJanusOptions,
  StackJanusSecrets,
  StackPorts,
  StackService,
  StackServiceName,
} from './stack';
