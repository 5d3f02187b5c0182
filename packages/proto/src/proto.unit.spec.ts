import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { loadSync } from '@grpc/proto-loader';
import {
  havenServiceOf,
  audit,
  Any,
  BadRequest,
  BadRequest_FieldViolation,
  Code,
  ErrorInfo,
  identity,
  PreconditionFailure,
  PROTO_FILES,
  PROTO_ROOT,
  recording,
  scheduling,
  SERVICE_NAMES,
  session,
  Status,
} from './index';

const repoRoot = resolve(__dirname, '..', '..', '..');
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

describe('google.rpc error model', () => {
  it('round-trips a Status with a BadRequest detail packed in an Any', () => {
    const violation: BadRequest_FieldViolation = BadRequest_FieldViolation.fromPartial({
      field: 'appointment.start_time',
      description: 'must be in the future',
    });
    const status = Status.fromPartial({
      code: Code.INVALID_ARGUMENT,
      message: 'invalid request',
      details: [
        Any.fromPartial({
          typeUrl: 'type.googleapis.com/google.rpc.BadRequest',
          value: Buffer.from(BadRequest.encode({ fieldViolations: [violation] }).finish()),
        }),
        Any.fromPartial({
          typeUrl: 'type.googleapis.com/google.rpc.ErrorInfo',
          value: Buffer.from(
            ErrorInfo.encode({
              reason: 'SLOT_TAKEN',
              domain: 'haven.scheduling',
              metadata: { clinician: 'users/ann' },
            }).finish(),
          ),
        }),
      ],
    });

    const decoded = Status.decode(Status.encode(status).finish());

    expect(decoded.code).toBe(3);
    expect(decoded.message).toBe('invalid request');
    expect(decoded.details.map((d) => d.typeUrl)).toEqual([
      'type.googleapis.com/google.rpc.BadRequest',
      'type.googleapis.com/google.rpc.ErrorInfo',
    ]);
    const [badRequestAny, errorInfoAny] = decoded.details as [Any, Any];
    expect(BadRequest.decode(badRequestAny.value)).toEqual({
      fieldViolations: [
        { field: 'appointment.start_time', description: 'must be in the future', reason: '' },
      ],
    });
    expect(ErrorInfo.decode(errorInfoAny.value)).toEqual({
      reason: 'SLOT_TAKEN',
      domain: 'haven.scheduling',
      metadata: { clinician: 'users/ann' },
    });
  });

  // Bytes written by hand from googleapis' field numbers: this is what keeps the copies wire compatible.
  it('uses the googleapis field numbers', () => {
    // BadRequest.field_violations = 1 { field = 1 "a", description = 2 "b" }
    expect(
      hex(BadRequest.encode({ fieldViolations: [{ field: 'a', description: 'b', reason: '' }] }).finish()),
    ).toBe('0a06' + '0a0161' + '120162');
    // Status { code = 1: 5, message = 2: "m", details = 3: Any { type_url = 1: "t", value = 2: 0x01 } }
    expect(
      hex(
        Status.encode({
          code: 5,
          message: 'm',
          details: [{ typeUrl: 't', value: Buffer.from([1]) }],
        }).finish(),
      ),
    ).toBe('0805' + '12016d' + '1a06' + '0a0174' + '120101');
    // ErrorInfo { reason = 1 "r", domain = 2 "d", metadata = 3 { key = 1 "k", value = 2 "v" } }
    expect(hex(ErrorInfo.encode({ reason: 'r', domain: 'd', metadata: { k: 'v' } }).finish())).toBe(
      '0a0172' + '120164' + '1a06' + '0a016b' + '120176',
    );
    // PreconditionFailure.violations = 1 { type = 1 "t", subject = 2 "s", description = 3 "d" }
    expect(
      hex(
        PreconditionFailure.encode({ violations: [{ type: 't', subject: 's', description: 'd' }] }).finish(),
      ),
    ).toBe('0a09' + '0a0174' + '120173' + '1a0164');
  });
});

/** The RPCs each service must expose (DESIGN.md and the API brief). */
const expectedRpcs: Record<keyof typeof SERVICE_NAMES, readonly string[]> = {
  identity: [
    'CreateUser',
    'GetUser',
    'ListUsers',
    'ActivateUser',
    'DeactivateUser',
    'ChangeUserRole',
    'Login',
    'RefreshToken',
    'Logout',
    'ChangePassword',
    'EnrollTotp',
    'ConfirmTotp',
    'ResetMfa',
    'CreateServiceAccount',
    'GetServiceAccount',
    'ListServiceAccounts',
    'IssueServiceAccountToken',
    'RotateServiceAccountSecret',
    'RequestBreakGlass',
    'GetJwks',
    'SignInWithSso',
    'ListSsoAccounts',
    'ApproveSsoAccount',
    'RejectSsoAccount',
  ],
  scheduling: [
    'CreatePatient',
    'GetPatient',
    'ListPatients',
    'BookAppointment',
    'GetAppointment',
    'ListAppointments',
    'RescheduleAppointment',
    'CancelAppointment',
    'MarkNoShow',
    'IssuePatientLink',
    'RedeemPatientLink',
    'IssueGuestLink',
    'RedeemGuestLink',
    'GetMessageTemplateSet',
    'UpdateMessageTemplateSet',
    'PreviewMessageTemplate',
    'GetUsageReport',
    'CreateMessageThread',
    'ListMessageThreads',
    'ListSecureMessages',
    'PostSecureMessage',
    'MarkMessageThreadRead',
    'CloseMessageThread',
    'GetClinicSettings',
    'UpdateClinicSettings',
    'ErasePatient',
    'ListMessageDeliveries',
  ],
  session: [
    'OpenVisit',
    'GetVisit',
    'ListVisits',
    'JoinLobby',
    'ListLobby',
    'AdmitParticipant',
    'DenyParticipant',
    'LockVisit',
    'UnlockVisit',
    'KickParticipant',
    'LeaveVisit',
    'EndVisit',
    'RecordConsent',
    'StartRecording',
    'CancelRecording',
    'StopRecording',
    'AcknowledgeRecordingNotice',
    'JoinMedia',
    'InviteGuest',
    'GrantHost',
    'RevokeGuest',
    'ConfirmIdentity',
    'SendChatMessage',
    'ListChatMessages',
    'ShareChatFile',
    'ReadChatFile',
    'ExportChatTranscript',
    'GetChatTranscript',
    'PostLobbyNotice',
    'GetLobbyNotice',
  ],
  recording: [
    'GetRecording',
    'ListRecordings',
    'PlayRecording',
    'DeleteRecording',
    'ReadRecordingMedia',
    'PlaceLegalHold',
    'ReleaseLegalHold',
    'GetRetentionPolicy',
    'UpdateRetentionPolicy',
  ],
  audit: [
    'ListAuditEvents',
    'GetAuditEvent',
    'GetTreeHead',
    'GetInclusionProof',
    'GetConsistencyProof',
    'ExportAuditLog',
    'ListMyAccessLog',
  ],
};

interface MethodDefinitionLike {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  requestSerialize: (value: never) => Buffer;
  requestDeserialize: (bytes: Buffer) => unknown;
  responseSerialize: (value: never) => Buffer;
  responseDeserialize: (bytes: Buffer) => unknown;
}

const definitions: Record<keyof typeof SERVICE_NAMES, Record<string, MethodDefinitionLike>> = {
  identity: identity.IdentityServiceService,
  scheduling: scheduling.SchedulingServiceService,
  session: session.SessionServiceService,
  recording: recording.RecordingServiceService,
  audit: audit.AuditServiceService,
};

describe('service definitions', () => {
  const loaded = loadSync([...PROTO_FILES], { includeDirs: [PROTO_ROOT], keepCase: true });

  describe.each(Object.keys(SERVICE_NAMES) as (keyof typeof SERVICE_NAMES)[])('%s', (key) => {
    const serviceName = SERVICE_NAMES[key];
    const definition = definitions[key];
    const methods = Object.values(definition);

    it('has exactly the expected RPCs under its full service name', () => {
      expect(methods.map((m) => m.path).sort()).toEqual(
        expectedRpcs[key].map((rpc) => `/${serviceName}/${rpc}`).sort(),
      );
    });

    it('has request and response codecs for every RPC', () => {
      for (const method of methods) {
        const request = method.requestDeserialize(Buffer.alloc(0));
        const response = method.responseDeserialize(Buffer.alloc(0));
        expect(request).toBeInstanceOf(Object);
        expect(response).toBeInstanceOf(Object);
        expect(method.requestSerialize(request as never)).toHaveLength(0);
        expect(method.responseSerialize(response as never)).toHaveLength(0);
      }
    });

    it('matches what @grpc/proto-loader reads from PROTO_FILES (as reflection serves it)', () => {
      const fromLoader = loaded[serviceName] as Record<string, { path: string; responseStream: boolean }>;
      expect(fromLoader).toBeDefined();
      expect(
        Object.values(fromLoader)
          .map((m) => [m.path, m.responseStream])
          .sort(),
      ).toEqual(methods.map((m) => [m.path, m.responseStream]).sort());
    });
  });

  it('streams only ExportAuditLog, ReadRecordingMedia and ReadChatFile', () => {
    const streaming = Object.values(definitions)
      .flatMap((d) => Object.values(d))
      .filter((m) => m.requestStream || m.responseStream)
      .map((m) => m.path);
    expect(streaming.sort()).toEqual([
      '/haven.audit.v1.AuditService/ExportAuditLog',
      '/haven.recording.v1.RecordingService/ReadRecordingMedia',
      '/haven.session.v1.SessionService/ReadChatFile',
    ]);
  });

  it('encodes a real request with Timestamps as Dates and int64 as strings', () => {
    const request = scheduling.BookAppointmentRequest.fromPartial({
      appointment: {
        clinician: 'users/ann',
        patient: 'patients/p1',
        startTime: new Date('2030-01-02T03:04:05.006Z'),
        endTime: new Date('2030-01-02T03:34:05.006Z'),
      },
    });
    const bytes = scheduling.SchedulingServiceService.bookAppointment.requestSerialize(request);
    const decoded = scheduling.SchedulingServiceService.bookAppointment.requestDeserialize(bytes);
    expect(decoded.appointment?.startTime?.toISOString()).toBe('2030-01-02T03:04:05.006Z');
    expect(decoded.appointment?.clinician).toBe('users/ann');
    const head = audit.GetTreeHeadRequest.decode(
      audit.GetTreeHeadRequest.encode({ treeSize: '9007199254740993' }).finish(),
    );
    expect(head.treeSize).toBe('9007199254740993');
  });
});

describe('proto files', () => {
  it('PROTO_ROOT is the repository proto/ directory and PROTO_FILES lists every file in it', () => {
    expect(PROTO_ROOT).toBe(join(repoRoot, 'proto'));
    const onDisk: string[] = [];
    const walk = (dir: string): void => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) walk(path);
        else if (entry.name.endsWith('.proto')) onDisk.push(relative(PROTO_ROOT, path).split(sep).join('/'));
      }
    };
    walk(PROTO_ROOT);
    expect([...PROTO_FILES].sort()).toEqual(onDisk.sort());
    for (const file of PROTO_FILES) expect(existsSync(join(PROTO_ROOT, file))).toBe(true);
  });

  it('passes buf lint (STANDARD + COMMENTS)', () => {
    const result = spawnSync(join(repoRoot, 'node_modules', '.bin', 'buf'), ['lint'], {
      cwd: repoRoot,
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(result.stdout + result.stderr).toBe('');
    expect(result.status).toBe(0);
  });

  it('generated code is up to date with proto/', () => {
    const result = spawnSync(process.execPath, [join(repoRoot, 'scripts', 'gen-proto.mjs'), '--check'], {
      cwd: repoRoot,
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(result.stdout).toContain('up to date');
    expect(result.status).toBe(0);
  });
});

describe('havenServiceOf', () => {
  it('names the Haven service of every proto service of haven.<name>.v1, and nothing else', () => {
    expect(havenServiceOf('haven.identity.v1.PasskeyService')).toBe('identity');
    expect(havenServiceOf(SERVICE_NAMES.audit)).toBe('audit');
    expect(havenServiceOf('haven.events.v1.Envelope')).toBeUndefined();
    expect(havenServiceOf('haven.toString.v1.X')).toBeUndefined();
    expect(havenServiceOf('grpc.health.v1.Health')).toBeUndefined();
  });
});
