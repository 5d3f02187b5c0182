/**
 * @haven/testing — Haven's test support (dev only): the one stack launcher, a real nats-server and Janus per
 * suite, built services as child processes, the TCP fault proxy, free ports, polling (`eventually`),
 * given/when/then for deciders, a real OpenID provider, a raw Janus client and the media-proxy client, network
 * namespaces, Chromium, a JWKS server, identity's test environment and CLI, the raw event-log reader and the store
 * checker. Specs import it by name.
 */
export { freePort } from './ports';
export { localClient, suiteStore } from './local-service';
export { spawnChild, waitUntilReady } from './process';
export type { Child, ChildSpec, ProcessHooks } from './process';
export { natsSuite, startNatsServer } from './nats-server';
export { DEV_PKI_WORKLOADS, DEV_TRUST_DOMAIN, ensureDevPki, sharedTestPki } from './pki';
export type { CertificateFiles, DevPki, IssueOptions } from './pki';
export type {
  NatsClientOptions,
  NatsServerHandle,
  NatsServiceEnv,
  NatsSuite,
  NatsUserName,
  StartNatsServerOptions,
} from './nats-server';
export {
  attachVideoRoom,
  connectJanusWs,
  generateJanusConfig,
  janusRoomExists,
  joinAsPublisher,
  randomJanusSecret,
  signJanusToken,
  startJanus,
} from './janus';
export type { JanusConfigOptions, JanusHandle, JanusWsClient, StartJanusOptions } from './janus';
export { REPO_ROOT } from './repo-root';
export { healthStatus, runService, startServiceProcess } from './service-process';
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
export { readAuditLedger } from './audit-ledger';
export type { ReadAuditLedgerOptions } from './audit-ledger';
export { eventually, passesEventually } from './eventually';
export { failureOf, statusOf } from './failure';
export type { EventuallyOptions } from './eventually';
export { commandWith, given, iso } from './given-when-then';
export type { DeciderSpec } from './given-when-then';
export {
  CHROMIUM_FLAGS,
  CHROMIUM_PATH,
  SCREENSHOT_DIR,
  launchChromium,
  screenshot,
  watchCsp,
} from './browser';
export type { LaunchedChromium } from './browser';
export { createNetns, netnsAvailable, netnsGate, runDriverOnce, runInNetns } from './netns';
export type { ExecResult, Netns } from './netns';
export { completeOidcLogin, startOidcProvider } from './oidc-provider';
export type {
  OidcProviderHandle,
  OidcTestAccount,
  OidcTestClient,
  StartOidcProviderOptions,
} from './oidc-provider';
export { serveHttpStandIn, serveRefusableStandIn } from './http-stand-in';
export type { HttpStandIn, RefusableHandler, RefusableStandIn, StandInHandler } from './http-stand-in';
export { serveJwks } from './jwks-server';
export type { JwksServer } from './jwks-server';
export { TEST_IDENTITY_ENV, runIdentityCli } from './identity';
export type { CliResult } from './identity';
export { readEventLog } from './event-log';
export type { LoggedEvent } from './event-log';
export { checkScheduling, checkVisits } from './store-checker';
export { appendAppointmentBooked, appointmentBooked } from './booking';
export type { TestBooking } from './booking';
export { bookVisit, createPatient, issueLink, redeemLink, startIn } from './scheduling-calls';
export type { Desk } from './scheduling-calls';
export type { SchedulingCheck, VisitCheck } from './store-checker';
export {
  MediaClient,
  heldStrings,
  janusAdmin,
  janusSessions,
  joinExtras,
  mediaDoor,
  publishThrough,
  tokenOf,
} from './media-client';
export type { JanusReply, MediaRoute } from './media-client';
export { stallProcess } from './process-faults';
export { SoftAuthenticator } from './webauthn';
export { totpCode } from './totp';
export type { SoftCeremonyOptions, SoftCredential } from './webauthn';
export { catcherSmtpEnv, startMailCatcher } from './mail-catcher';
export type { CaughtMail, MailCatcher, MailCatcherOptions, MailFault, MailHold } from './mail-catcher';
