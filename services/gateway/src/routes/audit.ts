/**
 * The audit ledger (`/api/audit/*`, admins and auditors; every query is itself recorded by the audit service):
 * the signed tree head, the newest entries, and one entry's inclusion proof as a file to check offline.
 */
import type { Router } from 'express';
import { audit } from '@haven/proto';
import type { LedgerEntryView, LedgerHeadView, LedgerPageView } from '../audit-view';
import type { RouteContext } from '../context';
import { lastSegment, queryText } from '../http';
import { staff } from './guards';
import { oneCall } from './one-call';

const AUDITORS = ['admin', 'auditor'] as const;
const hex = (bytes: Uint8Array | undefined): string => Buffer.from(bytes ?? []).toString('hex');

/** The resources an event's stream (`<context>.<aggregate>-<id>`) names, by aggregate. */
const SUBJECTS: Readonly<Record<string, string>> = {
  recording: 'recordings',
  recording_views: 'recordings',
  visit: 'visits',
  appointment: 'appointments',
};

/** What an event is about, from its stream: `recordings/<id>` for a recording's view; empty when unknown. */
export function subjectOfStream(stream: string): string {
  const m = /^[a-z]+\.([a-z_]+)-(.+)$/.exec(stream);
  const collection = m?.[1] ? SUBJECTS[m[1]] : undefined;
  return collection && m?.[2] ? `${collection}/${m[2]}` : '';
}

/** An audit event as the ledger page lists it: who (role, id), what (the resource), and the patient. */
export function ledgerEntryView(e: audit.AuditEvent): LedgerEntryView {
  return {
    id: lastSegment(e.name),
    leafIndex: Number(e.leafIndex),
    type: e.type.replace(/^haven\./, ''),
    occurredAt: e.occurTime?.toISOString() ?? null,
    actor: e.actor ? `${e.actor.role || e.actor.id}` : '',
    actorId: e.actor?.id ?? '',
    subject: subjectOfStream(e.stream),
    patientId: e.patient ? lastSegment(e.patient) : '',
    leafHash: hex(e.leafHash),
  };
}

/** The proof file bin/haven-audit-verify checks: the entry, its leaf, its audit path, and the signed head. */
function proofFile(id: string, r: audit.GetInclusionProofResponse) {
  const head = r.treeHead;
  return {
    format: 'haven.audit.inclusion-proof.v2',
    entry: `auditEvents/${id}`,
    leafIndex: Number(r.leafIndex),
    leafHash: hex(r.leafHash),
    // The leaf's exact bytes (the entry's canonical JSON): the verifier binds the entry to its leaf.
    leafData: Buffer.from(r.leafData).toString('utf8'),
    auditPath: r.auditPath.map((h) => hex(h)),
    head: {
      treeSize: Number(head?.treeSize ?? 0),
      rootHash: hex(head?.rootHash),
      timestampMs: head?.timestamp?.getTime() ?? 0,
      signature: Buffer.from(head?.signature ?? []).toString('base64'),
      keyId: head?.keyId ?? '',
      publicKey: Buffer.from(head?.publicKey ?? []).toString('base64'),
    },
  };
}

/** Registers GET /audit/head, /audit/events and /audit/events/:id/proof on the /api router. */
export function registerAuditRoutes(api: Router, ctx: RouteContext): void {
  api.get(
    '/audit/head',
    staff(
      ctx,
      { rpc: 'audit.GetTreeHead', roles: AUDITORS },
      oneCall(ctx, {
        client: 'audit',
        method: 'getTreeHead',
        request: () => audit.GetTreeHeadRequest.fromPartial({ treeSize: '0' }),
        view: ({ treeHead: head }): LedgerHeadView => ({
          treeSize: Number(head?.treeSize ?? 0),
          rootHash: hex(head?.rootHash),
          signedAt: head?.timestamp?.toISOString() ?? null,
          keyId: head?.keyId ?? '',
          algorithm: head?.signatureAlgorithm ?? '',
        }),
      }),
    ),
  );

  const eventFields = { patient: 'patient', page_token: 'pageToken' };
  api.get(
    '/audit/events',
    staff(
      ctx,
      { rpc: 'audit.ListAuditEvents', fields: eventFields, roles: AUDITORS },
      oneCall(ctx, {
        client: 'audit',
        method: 'listAuditEvents',
        request: ({ req }) => {
          const patient = queryText(req, 'patient').trim();
          return audit.ListAuditEventsRequest.fromPartial({
            pageSize: 50,
            orderBy: 'leaf_index desc',
            pageToken: queryText(req, 'pageToken'),
            ...(patient ? { patient: `patients/${patient}` } : {}),
          });
        },
        view: (r): LedgerPageView => ({
          events: r.auditEvents.map(ledgerEntryView),
          nextPageToken: r.nextPageToken,
        }),
      }),
    ),
  );

  // One entry's inclusion proof as a file an auditor keeps and checks offline (bin/haven-audit-verify).
  api.get(
    '/audit/events/:id/proof',
    staff(
      ctx,
      { rpc: 'audit.GetInclusionProof', roles: AUDITORS },
      oneCall(ctx, {
        client: 'audit',
        method: 'getInclusionProof',
        request: ({ id }) =>
          audit.GetInclusionProofRequest.fromPartial({
            leaf: { $case: 'auditEvent', auditEvent: `auditEvents/${id}` },
            treeSize: '0',
          }),
        headers: ({ id }) => ({ 'content-disposition': `attachment; filename="audit-proof-${id}.json"` }),
        view: (r, { id }) => proofFile(id, r),
      }),
    ),
  );
}
