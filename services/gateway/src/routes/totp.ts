/**
 * TOTP enrollment (`/api/auth/totp/*`): identity accepts the role-less enrollment token from Login for these two.
 * The secret comes back once with a QR code; confirming a code answers the recovery codes.
 */
import type { Router } from 'express';
import QRCode from 'qrcode';
import type { RecoveryCodesView, TotpEnrollmentView } from '../account-view';
import type { RouteContext } from '../context';
import { asRecord, invalid, stringField } from '../http';
import type { HttpFieldViolation } from '../http-errors';
import { staff } from './guards';

/** Registers POST /auth/totp/enroll and /auth/totp/confirm on the /api router. */
export function registerTotpRoutes(api: Router, ctx: RouteContext): void {
  const { clients } = ctx;

  api.post(
    '/auth/totp/enroll',
    staff(ctx, { rpc: 'identity.EnrollTotp' }, async (_req, res, { token }) => {
      const r = await ctx.call(res, token, clients.identity, 'enrollTotp', {});
      const svg = await QRCode.toString(r.otpauthUri, { type: 'svg', margin: 1, errorCorrectionLevel: 'M' });
      const enrollment: TotpEnrollmentView = {
        secret: r.secret,
        otpauthUri: r.otpauthUri,
        qr: `data:image/svg+xml;base64,${Buffer.from(svg, 'utf8').toString('base64')}`,
      };
      res.status(200).json(enrollment);
    }),
  );

  api.post(
    '/auth/totp/confirm',
    staff(ctx, { rpc: 'identity.ConfirmTotp', fields: { code: 'code' } }, async (req, res, { token }) => {
      const violations: HttpFieldViolation[] = [];
      const code = stringField(asRecord(req.body), 'code', 16, violations)?.trim() ?? '';
      if (code === '') violations.push({ field: 'code', description: 'is required' });
      if (invalid(res, violations)) return;
      const r = await ctx.call(res, token, clients.identity, 'confirmTotp', { code });
      res.status(200).json({ recoveryCodes: r.recoveryCodes } satisfies RecoveryCodesView);
    }),
  );
}
