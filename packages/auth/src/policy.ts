/**
 * Haven's least-privilege table: every RPC of every service in `proto/`, by full gRPC method path, and who may
 * call it. The gRPC harness (@haven/service `startGrpcService`) enforces it before any handler runs, and refuses
 * a method that has no entry (deny by default). Handlers keep the OWNERSHIP checks the table cannot express (a
 * clinician only their own appointments, visits and recordings; a patient only their own visit).
 *
 * Pure: no Node builtins, no I/O.
 */

/** Staff roles (the `role` claim of a user's token). */
export const Role = {
  Admin: 'admin',
  Clinician: 'clinician',
  FrontDesk: 'front_desk',
  Auditor: 'auditor',
} as const;
/** One of {@link Role}. */
export type Role = (typeof Role)[keyof typeof Role];
/** Every {@link Role}, in a stable order. */
export const ROLES: readonly Role[] = Object.freeze(Object.values(Role));

/** The kinds of authenticated caller (the `kind` claim; `user` is staff, gated by {@link Role}). */
export const PrincipalKind = {
  User: 'user',
  Patient: 'patient',
  /** A visit guest without a staff account (an interpreter, a relative): a redeemed one-time guest link. */
  Guest: 'guest',
  ServiceAccount: 'service_account',
  Service: 'service',
} as const;
/** One of {@link PrincipalKind}. */
export type PrincipalKind = (typeof PrincipalKind)[keyof typeof PrincipalKind];
/** The kinds a policy entry can admit by kind (users are admitted by role or `self`). */
export type NonUserKind = Exclude<PrincipalKind, 'user'>;

/**
 * Scopes a hospital system's service account can hold: `<service>.<resource>.<read|write>`. A scope names the
 * RPCs it opens in {@link POLICY}; a write scope does not imply the read scope.
 */
export const Scope = {
  SchedulingPatientsRead: 'scheduling.patients.read',
  SchedulingPatientsWrite: 'scheduling.patients.write',
  SchedulingAppointmentsRead: 'scheduling.appointments.read',
  SchedulingAppointmentsWrite: 'scheduling.appointments.write',
  SessionVisitsWrite: 'session.visits.write',
  AuditEventsRead: 'audit.events.read',
} as const;
/** One of {@link Scope}. */
export type Scope = (typeof Scope)[keyof typeof Scope];
/** Every {@link Scope}, in a stable order (identity validates the scopes of a new service account against it). */
export const SCOPES: readonly Scope[] = Object.freeze(Object.values(Scope));

/** A method anyone may call, without a token (the handler authenticates by other means, or there is nothing to guard). */
export interface PublicPolicy {
  readonly public: true;
  /** Why it is public. */
  readonly note: string;
}

/**
 * A method for authenticated callers. A caller is admitted when ANY clause matches:
 * a user whose role is in `roles`; any user when `self` (the handler acts on the caller's own account only);
 * a patient when `kinds` has `patient`; a service account when `kinds` has `service_account` and it holds at
 * least one of `scopes` (every entry that lists scopes lists `service_account`, and the reverse); an internal
 * service when `kinds` has `service`.
 */
export interface RestrictedPolicy {
  readonly public?: never;
  readonly roles?: readonly Role[];
  readonly kinds?: readonly NonUserKind[];
  readonly scopes?: readonly Scope[];
  readonly self?: true;
  /** What the handler still checks (ownership) or why the entry is what it is. */
  readonly note: string;
}

/** One entry of {@link POLICY}. */
export type MethodPolicy = PublicPolicy | RestrictedPolicy;

const IDENTITY = '/haven.identity.v1.IdentityService/';
const PASSKEY = '/haven.identity.v1.PasskeyService/';
const SCHEDULING = '/haven.scheduling.v1.SchedulingService/';
const SESSION = '/haven.session.v1.SessionService/';
const RECORDING = '/haven.recording.v1.RecordingService/';
const AUDIT = '/haven.audit.v1.AuditService/';

const { Admin, Clinician, FrontDesk, Auditor } = Role;
const PATIENT = 'patient' as const;
const GUEST = 'guest' as const;
const SERVICE_ACCOUNT = 'service_account' as const;

const adminOnly = (note: string): RestrictedPolicy => ({ roles: [Admin], note });
const schedulingStaff = (scope: Scope, note: string): RestrictedPolicy => ({
  roles: [Admin, FrontDesk, Clinician],
  kinds: [SERVICE_ACCOUNT],
  scopes: [scope],
  note,
});
const clinicianOwn = (note: string): RestrictedPolicy => ({ roles: [Clinician], note });
const auditReader = (note: string): RestrictedPolicy => ({
  roles: [Admin, Auditor],
  kinds: [SERVICE_ACCOUNT],
  scopes: [Scope.AuditEventsRead],
  note,
});

/**
 * The table: full gRPC method path → who may call it. Every RPC of every service in `proto/` has exactly one
 * entry (a unit test walks the proto descriptors); a method without an entry is refused.
 */
export const POLICY: Readonly<Record<string, MethodPolicy>> = Object.freeze({
  // identity
  [`${IDENTITY}CreateUser`]: adminOnly('invites a staff user'),
  [`${IDENTITY}GetUser`]: {
    roles: [Admin],
    self: true,
    note: 'admin reads anyone; the handler lets any other user read only themself',
  },
  [`${IDENTITY}ListUsers`]: {
    roles: [Admin, FrontDesk],
    note: 'user directory; front_desk sees only clinicians (id and display name) to book for',
  },
  [`${IDENTITY}ActivateUser`]: {
    public: true,
    note: 'the invitation token authenticates; reactivation checks an admin token in the handler',
  },
  [`${IDENTITY}DeactivateUser`]: adminOnly('ends all the user’s sessions'),
  [`${IDENTITY}ChangeUserRole`]: adminOnly('ends all the user’s sessions'),
  [`${IDENTITY}Login`]: { public: true, note: 'username, password and TOTP authenticate' },
  [`${IDENTITY}RefreshToken`]: { public: true, note: 'the refresh token authenticates' },
  [`${IDENTITY}Logout`]: { self: true, note: 'any signed-in user, their own session' },
  [`${IDENTITY}ChangePassword`]: { self: true, note: 'any signed-in user, their own password' },
  [`${IDENTITY}EnrollTotp`]: { self: true, note: 'any signed-in user, their own MFA' },
  [`${IDENTITY}ConfirmTotp`]: { self: true, note: 'any signed-in user, their own MFA' },
  [`${IDENTITY}ResetMfa`]: adminOnly('the user enrolls again at next login'),
  [`${IDENTITY}CreateServiceAccount`]: adminOnly('hospital system accounts'),
  [`${IDENTITY}GetServiceAccount`]: adminOnly('hospital system accounts'),
  [`${IDENTITY}ListServiceAccounts`]: adminOnly('hospital system accounts'),
  [`${IDENTITY}IssueServiceAccountToken`]: {
    public: true,
    note: 'client id and secret authenticate (OAuth 2.0 client credentials)',
  },
  [`${IDENTITY}RotateServiceAccountSecret`]: adminOnly('hospital system accounts'),
  [`${IDENTITY}SignInWithSso`]: {
    public: true,
    note: 'the clinic identity provider’s ID token authenticates (identity verifies it)',
  },
  [`${IDENTITY}ListSsoAccounts`]: adminOnly('SSO accounts waiting for approval'),
  [`${IDENTITY}ApproveSsoAccount`]: adminOnly('just-in-time provisioning needs an admin'),
  [`${IDENTITY}RejectSsoAccount`]: adminOnly('just-in-time provisioning needs an admin'),
  [`${IDENTITY}RequestBreakGlass`]: {
    roles: [Clinician, Admin],
    note: 'needs a written reason; raises an alert',
  },
  [`${IDENTITY}GetJwks`]: { public: true, note: 'public keys only' },

  // identity: passkeys
  [`${PASSKEY}StartPasskeyRegistration`]: { self: true, note: 'any signed-in user, their own passkey' },
  [`${PASSKEY}FinishPasskeyRegistration`]: { self: true, note: 'any signed-in user, their own passkey' },
  [`${PASSKEY}ListPasskeys`]: {
    roles: [Admin],
    self: true,
    note: 'admin lists anyone’s; the handler lets any other user list only their own',
  },
  [`${PASSKEY}DeletePasskey`]: {
    roles: [Admin],
    self: true,
    note: 'admin removes anyone’s (reset); the handler lets any other user remove only their own',
  },
  [`${PASSKEY}StartPasskeySignIn`]: {
    public: true,
    note: 'a challenge for the browser; nothing is revealed',
  },
  [`${PASSKEY}GetPasskeyPolicy`]: adminOnly('the clinic’s attestation policy'),
  [`${PASSKEY}UpdatePasskeyPolicy`]: adminOnly('the clinic’s attestation policy, for new passkeys'),
  [`${PASSKEY}FinishPasskeySignIn`]: {
    public: true,
    note: 'the passkey’s signature over a single-use challenge authenticates',
  },

  // scheduling
  [`${SCHEDULING}CreatePatient`]: schedulingStaff(
    Scope.SchedulingPatientsWrite,
    'PHI; clinicians register their own patients',
  ),
  [`${SCHEDULING}GetPatient`]: schedulingStaff(
    Scope.SchedulingPatientsRead,
    'PHI read, audited; clinician only their own patients',
  ),
  [`${SCHEDULING}ListPatients`]: schedulingStaff(
    Scope.SchedulingPatientsRead,
    'PHI read, audited; clinician only their own patients',
  ),
  [`${SCHEDULING}BookAppointment`]: schedulingStaff(
    Scope.SchedulingAppointmentsWrite,
    'clinician only for themself',
  ),
  [`${SCHEDULING}GetAppointment`]: schedulingStaff(
    Scope.SchedulingAppointmentsRead,
    'clinician only their own',
  ),
  [`${SCHEDULING}ListAppointments`]: schedulingStaff(
    Scope.SchedulingAppointmentsRead,
    'clinician only their own',
  ),
  [`${SCHEDULING}RescheduleAppointment`]: schedulingStaff(
    Scope.SchedulingAppointmentsWrite,
    'clinician only their own',
  ),
  [`${SCHEDULING}CancelAppointment`]: schedulingStaff(
    Scope.SchedulingAppointmentsWrite,
    'clinician only their own',
  ),
  [`${SCHEDULING}MarkNoShow`]: schedulingStaff(Scope.SchedulingAppointmentsWrite, 'clinician only their own'),
  [`${SCHEDULING}IssuePatientLink`]: schedulingStaff(
    Scope.SchedulingAppointmentsWrite,
    'clinician only their own',
  ),
  [`${SCHEDULING}RedeemPatientLink`]: {
    public: true,
    note: 'link token and passcode (and date of birth) authenticate; answers a patient token',
  },
  [`${SCHEDULING}IssueGuestLink`]: clinicianOwn(
    'the host who invited the link guest in the session service (read from the visit stream)',
  ),
  [`${SCHEDULING}RedeemGuestLink`]: {
    public: true,
    note: 'guest link token and its own passcode authenticate; single use; answers a guest token',
  },
  [`${SCHEDULING}GetMessageTemplateSet`]: adminOnly('the clinic’s patient message templates'),
  [`${SCHEDULING}UpdateMessageTemplateSet`]: adminOnly('the clinic’s patient message templates, linted'),
  [`${SCHEDULING}PreviewMessageTemplate`]: adminOnly('renders with example values; nothing saved or sent'),
  [`${SCHEDULING}GetUsageReport`]: adminOnly('counts per clinician; no patient, no reason'),
  [`${SCHEDULING}ListMessageDeliveries`]: schedulingStaff(
    Scope.SchedulingAppointmentsRead,
    'codes and times of the messages to the patient, no PHI; clinician only their own',
  ),
  // Secure messages are PHI between a patient and their care team: never an admin, auditor or system account.
  [`${SCHEDULING}CreateMessageThread`]: {
    roles: [Clinician, FrontDesk],
    kinds: [PATIENT],
    note: 'patient their own; clinician a care thread as its clinician; front desk a scheduling thread',
  },
  [`${SCHEDULING}ListMessageThreads`]: {
    roles: [Clinician, FrontDesk],
    kinds: [PATIENT],
    note: 'no text; patient their own, clinician their care threads, front desk scheduling threads',
  },
  [`${SCHEDULING}ListSecureMessages`]: {
    roles: [Clinician, FrontDesk],
    kinds: [PATIENT],
    note: 'thread members only; recorded as PhiAccessed (treatment-communication) before the text',
  },
  [`${SCHEDULING}PostSecureMessage`]: {
    roles: [Clinician, FrontDesk],
    kinds: [PATIENT],
    note: 'thread members only; text sealed with the patient’s key, rate-limited',
  },
  [`${SCHEDULING}MarkMessageThreadRead`]: {
    roles: [Clinician, FrontDesk],
    kinds: [PATIENT],
    note: 'thread members only; a read receipt',
  },
  [`${SCHEDULING}CloseMessageThread`]: {
    roles: [Clinician, FrontDesk],
    note: 'the thread’s care team only',
  },
  [`${SCHEDULING}GetClinicSettings`]: {
    roles: [Admin, Clinician, FrontDesk],
    note: 'the clinic’s time zone, for the staff pages',
  },
  [`${SCHEDULING}UpdateClinicSettings`]: adminOnly('recorded as ClinicSettingsChanged'),
  [`${SCHEDULING}ErasePatient`]: adminOnly(
    'reason code required; refused while an appointment is to come or a visit is in progress; destroys the patient’s key',
  ),

  // session
  [`${SESSION}OpenVisit`]: {
    kinds: [SERVICE_ACCOUNT],
    scopes: [Scope.SessionVisitsWrite],
    note: 'hospital systems; visits also open on booking',
  },
  [`${SESSION}GetVisit`]: {
    roles: [Clinician],
    kinds: [PATIENT, GUEST],
    note: 'clinician their own; patient their own; a link guest the visit of their link, while invited',
  },
  [`${SESSION}ListVisits`]: {
    roles: [Clinician, FrontDesk],
    note: 'clinician their own; front desk every clinician’s, status and participant states only (who is waiting)',
  },
  [`${SESSION}JoinLobby`]: {
    roles: [Clinician],
    kinds: [PATIENT, GUEST],
    note: 'patient, their own visit; a clinician invited into it as a guest; a link guest, while invited',
  },
  [`${SESSION}ListLobby`]: clinicianOwn('clinician their own'),
  [`${SESSION}AdmitParticipant`]: clinicianOwn('clinician their own'),
  [`${SESSION}DenyParticipant`]: clinicianOwn('clinician their own'),
  [`${SESSION}LockVisit`]: clinicianOwn('clinician their own'),
  [`${SESSION}UnlockVisit`]: clinicianOwn('clinician their own'),
  [`${SESSION}KickParticipant`]: clinicianOwn('clinician their own'),
  [`${SESSION}LeaveVisit`]: {
    roles: [Clinician],
    kinds: [PATIENT, GUEST],
    note: 'clinician their own; patient their own, once admitted',
  },
  [`${SESSION}EndVisit`]: clinicianOwn('clinician their own'),
  [`${SESSION}InviteGuest`]: clinicianOwn('a host of the visit'),
  [`${SESSION}GrantHost`]: clinicianOwn('a host of the visit, to a clinician present'),
  [`${SESSION}ConfirmIdentity`]: clinicianOwn(
    'a host of the visit; records who, when and how, never the date of birth',
  ),
  [`${SESSION}RevokeGuest`]: clinicianOwn('a host of the visit; the guest is removed and their link dies'),
  [`${SESSION}RecordConsent`]: {
    roles: [Clinician],
    kinds: [PATIENT, GUEST],
    note: 'their own consent: clinician in their own visit; patient in theirs',
  },
  [`${SESSION}StartRecording`]: clinicianOwn(
    'clinician their own; records once everyone present has consented; policy off refuses',
  ),
  [`${SESSION}CancelRecording`]: clinicianOwn('clinician their own; a pending request only'),
  [`${SESSION}StopRecording`]: clinicianOwn('clinician their own'),
  [`${SESSION}AcknowledgeRecordingNotice`]: {
    roles: [Clinician],
    kinds: [PATIENT, GUEST],
    note: 'clinician their own; patient their own, once admitted',
  },
  [`${SESSION}JoinMedia`]: {
    roles: [Clinician],
    kinds: [PATIENT, GUEST],
    note: 'clinician their own; patient their own, once admitted',
  },
  [`${SESSION}SendChatMessage`]: {
    roles: [Clinician],
    kinds: [PATIENT],
    note: 'visit members: clinician their own; patient device once admitted; text sealed, rate-limited',
  },
  [`${SESSION}ListChatMessages`]: {
    roles: [Clinician],
    kinds: [PATIENT],
    note: 'visit members: clinician their own; patient device once admitted; recorded as PhiAccessed',
  },
  [`${SESSION}ShareChatFile`]: {
    roles: [Clinician],
    kinds: [PATIENT],
    note: 'visit members: clinician their own; patient device once admitted; type by content, stored encrypted',
  },
  [`${SESSION}ReadChatFile`]: {
    roles: [Clinician],
    kinds: [PATIENT],
    note: 'visit members: clinician their own; patient device once admitted; recorded as PhiAccessed',
  },
  [`${SESSION}ExportChatTranscript`]: {
    roles: [Clinician],
    note: 'a host clinician of the visit; the transcript is sealed; reading the chat is recorded as PhiAccessed',
  },
  [`${SESSION}GetChatTranscript`]: {
    roles: [Clinician],
    note: 'a host clinician of the visit; recorded as PhiAccessed',
  },
  [`${SESSION}PostLobbyNotice`]: clinicianOwn('clinician their own; a typed note is sealed'),
  [`${SESSION}GetLobbyNotice`]: {
    roles: [Clinician],
    kinds: [PATIENT, GUEST],
    note: 'clinician their own; patient their own visit, waiting or admitted',
  },

  // recording
  // Watching a recording is PHI access: only the people of the visit (the clinician; the patient, their own,
  // when HAVEN_RECORDING_PATIENT_ACCESS allows). Admins manage holds, retention and deletion without
  // watching; auditors see who watched (RecordingViewed in the audit log), not the media; front desk never.
  [`${RECORDING}GetRecording`]: {
    roles: [Clinician, Admin],
    note: 'metadata only; clinician their own, admin any (holds, retention)',
  },
  [`${RECORDING}ListRecordings`]: {
    roles: [Clinician, Admin],
    kinds: [PATIENT],
    note: 'metadata only; clinician their own, admin any; patient their own available ones when the clinic allows',
  },
  [`${RECORDING}PlayRecording`]: {
    roles: [Clinician],
    kinds: [PATIENT],
    note: 'PHI access, audited; clinician their own; patient their own when the clinic allows',
  },
  [`${RECORDING}ReadRecordingMedia`]: {
    roles: [Clinician],
    kinds: [PATIENT],
    note: 'PHI; needs the caller’s own unexpired PlayRecording grant; RecordingViewed before the first byte',
  },
  [`${RECORDING}DeleteRecording`]: adminOnly('crypto-shredding; refused under legal hold'),
  [`${RECORDING}PlaceLegalHold`]: adminOnly('blocks deletion and retention'),
  [`${RECORDING}ReleaseLegalHold`]: adminOnly('legal hold'),
  [`${RECORDING}GetRetentionPolicy`]: adminOnly('settings'),
  [`${RECORDING}UpdateRetentionPolicy`]: adminOnly('settings'),

  // audit
  [`${AUDIT}ListAuditEvents`]: auditReader('read-only; every query is itself audited'),
  [`${AUDIT}GetAuditEvent`]: auditReader('read-only; every query is itself audited'),
  [`${AUDIT}GetTreeHead`]: auditReader('read-only'),
  [`${AUDIT}GetInclusionProof`]: auditReader('read-only'),
  [`${AUDIT}GetConsistencyProof`]: auditReader('read-only'),
  [`${AUDIT}ExportAuditLog`]: auditReader('read-only; streams'),
  [`${AUDIT}ListMyAccessLog`]: { kinds: [PATIENT], note: 'patient, their own access log' },
} satisfies Record<string, MethodPolicy>);
