/**
 * Test support: a real gRPC server (the Haven harness, startGrpcService, with the real service definitions
 * from @haven/proto) that implements just enough of identity (Login, RefreshToken, Logout, the starts of the
 * passkey ceremonies) and scheduling (BookAppointment) for the gateway's own behaviour to be tested. Tokens are real EdDSA JWTs checked by the
 * harness's real verifier.
 */
import { randomUUID } from 'node:crypto';
import { PermissionError, UnauthenticatedError, ValidationError } from '@haven/errors';
import type { FieldViolation } from '@haven/errors';
import { identity, passkeys, scheduling } from '@haven/proto';
import { createJwtVerifier, createLogger, startGrpcService } from '@haven/service';
import type { CallContext, RunningGrpcService, TokenVerifier } from '@haven/service';
import { createTestIssuer } from '@haven/service/testing';

/** A user the backend accepts. */
export interface TestUser {
  readonly username: string;
  readonly password: string;
  readonly id: string;
  readonly role: 'admin' | 'clinician' | 'front_desk' | 'auditor';
}

export const FRONT_DESK: TestUser = {
  username: 'frontdesk',
  password: 'correct horse battery staple',
  id: 'u-frontdesk',
  role: 'front_desk',
};
export const AUDITOR: TestUser = {
  username: 'auditor',
  password: 'another long passphrase 42',
  id: 'u-auditor',
  role: 'auditor',
};

const ROLE_ENUM = {
  admin: identity.Role.ROLE_ADMIN,
  clinician: identity.Role.ROLE_CLINICIAN,
  front_desk: identity.Role.ROLE_FRONT_DESK,
  auditor: identity.Role.ROLE_AUDITOR,
} as const;

const RESOURCE_ID = /^[a-z0-9-]{4,63}$/;

export interface TestBackend {
  /** `127.0.0.1:<port>` */
  readonly address: string;
  /** Verifies the backend's tokens (give it to the gateway). */
  readonly verifier: TokenVerifier;
  /** What the backend saw, for assertions. */
  readonly seen: {
    logins: number;
    logouts: number;
    refreshes: number;
    bookings: Array<{ principalId: string | undefined; clinician: string; patient: string }>;
  };
  /** The `options_json` StartPasskeySignIn and StartPasskeyRegistration answer (a test may change them). */
  readonly passkeyOptions: { signIn: string; registration: string };
  /** Signs an access token for a user (e.g. to put in a cookie by hand). */
  sign(user: TestUser, options?: { expiresIn?: string | number }): Promise<string>;
  readonly service: RunningGrpcService;
  stop(): Promise<void>;
}

/** Scheduling's BookAppointment: the real role check and field rules, recorded in `seen`. */
function schedulingHandlersFor(seen: TestBackend['seen']) {
  return {
    bookAppointment: async (
      req: scheduling.BookAppointmentRequest,
      ctx: CallContext,
    ): Promise<scheduling.BookAppointmentResponse> => {
      if (!['admin', 'clinician', 'front_desk'].includes(ctx.principal?.role ?? '')) {
        throw new PermissionError('this role may not book appointments');
      }
      const a = req.appointment;
      const violations: FieldViolation[] = [];
      const clinician = /^users\/(.+)$/.exec(a?.clinician ?? '')?.[1];
      const patient = /^patients\/(.+)$/.exec(a?.patient ?? '')?.[1];
      if (!clinician || !RESOURCE_ID.test(clinician))
        violations.push({ field: 'appointment.clinician', description: 'must name a clinician' });
      if (!patient || !RESOURCE_ID.test(patient))
        violations.push({ field: 'appointment.patient', description: 'must name a patient' });
      if (!a?.startTime) violations.push({ field: 'appointment.start_time', description: 'is required' });
      else if (a.startTime.getTime() < Date.now())
        violations.push({ field: 'appointment.start_time', description: 'must not be in the past' });
      if (!a?.endTime) violations.push({ field: 'appointment.end_time', description: 'is required' });
      else if (a.startTime && a.endTime <= a.startTime)
        violations.push({ field: 'appointment.end_time', description: 'must be after start_time' });
      if (violations.length > 0) throw new ValidationError(violations);
      seen.bookings.push({
        principalId: ctx.principal?.id,
        clinician: a?.clinician ?? '',
        patient: a?.patient ?? '',
      });
      return {
        appointment: scheduling.Appointment.fromPartial({
          ...a,
          name: `appointments/appt-${seen.bookings.length}`,
          state: scheduling.AppointmentState.APPOINTMENT_STATE_SCHEDULED,
        }),
        occurrences: [],
      };
    },
  };
}

/** Starts the backend on an ephemeral loopback port. Rejects when the port cannot be bound. */
export async function startTestBackend(): Promise<TestBackend> {
  const issuer = createTestIssuer();
  const verifier = createJwtVerifier({ jwks: issuer.jwks, issuer: issuer.issuer, audience: issuer.audience });
  const users = [FRONT_DESK, AUDITOR];
  const seen: TestBackend['seen'] = { logins: 0, logouts: 0, refreshes: 0, bookings: [] };
  const refreshTokens = new Map<string, TestUser>();
  let n = 0;

  const sign = (user: TestUser, options: { expiresIn?: string | number } = {}) =>
    issuer.sign({ sub: user.id, role: user.role, sid: `s-${user.id}`, jti: randomUUID() }, options);

  async function tokensFor(user: TestUser): Promise<identity.TokenSet> {
    n += 1;
    const refreshToken = `s-${user.id}.${n}-refresh-secret`;
    refreshTokens.set(refreshToken, user);
    return identity.TokenSet.fromPartial({
      accessToken: await sign(user),
      accessTokenExpireTime: new Date(Date.now() + 15 * 60_000),
      refreshToken,
      refreshTokenExpireTime: new Date(Date.now() + 8 * 3_600_000),
    });
  }

  const identityHandlers = {
    login: async (req: identity.LoginRequest): Promise<identity.LoginResponse> => {
      seen.logins += 1;
      const violations: FieldViolation[] = [];
      if (!req.username) violations.push({ field: 'username', description: 'is required' });
      if (!req.password) violations.push({ field: 'password', description: 'is required' });
      if (violations.length > 0) throw new ValidationError(violations);
      const user = users.find((u) => u.username === req.username && u.password === req.password);
      if (!user) throw new UnauthenticatedError('wrong credentials');
      return identity.LoginResponse.fromPartial({
        tokens: await tokensFor(user),
        user: { name: `users/${user.id}`, username: user.username, role: ROLE_ENUM[user.role] },
      });
    },
    refreshToken: async (req: identity.RefreshTokenRequest): Promise<identity.RefreshTokenResponse> => {
      seen.refreshes += 1;
      const user = refreshTokens.get(req.refreshToken);
      if (!user) throw new UnauthenticatedError('unknown refresh token');
      refreshTokens.delete(req.refreshToken); // rotated
      return { tokens: await tokensFor(user) };
    },
    logout: async (req: identity.LogoutRequest): Promise<identity.LogoutResponse> => {
      seen.logouts += 1;
      refreshTokens.delete(req.refreshToken);
      return {};
    },
  };

  const schedulingHandlers = schedulingHandlersFor(seen);
  const passkeyOptions = { signIn: '{}', registration: '{}' };
  const passkeyHandlers = {
    startPasskeySignIn: async (): Promise<passkeys.StartPasskeySignInResponse> => ({
      ceremony: randomUUID(),
      optionsJson: passkeyOptions.signIn,
    }),
    startPasskeyRegistration: async (): Promise<passkeys.StartPasskeyRegistrationResponse> => ({
      ceremony: randomUUID(),
      optionsJson: passkeyOptions.registration,
    }),
  };

  const service = await startGrpcService({
    name: 'gateway-test-backend',
    port: 0,
    host: '127.0.0.1',
    services: [
      { definition: identity.IdentityServiceService, handlers: identityHandlers },
      { definition: scheduling.SchedulingServiceService, handlers: schedulingHandlers },
      { definition: passkeys.PasskeyServiceService, handlers: passkeyHandlers },
    ],
    auth: {
      verifier,
      publicMethods: [
        '/haven.identity.v1.IdentityService/Login',
        '/haven.identity.v1.IdentityService/RefreshToken',
        '/haven.identity.v1.PasskeyService/StartPasskeySignIn',
      ],
    },
    logger: createLogger({ service: 'gateway-test-backend', level: 'silent' }),
    shutdownGraceMs: 1000,
  });

  return {
    address: `127.0.0.1:${service.port}`,
    verifier,
    seen,
    passkeyOptions,
    sign,
    service,
    stop: () => service.stop(),
  };
}
