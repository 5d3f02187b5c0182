/** The whole audit ledger as an auditor reads it, for suites that check what the audit service recorded. */
import type * as grpc from '@grpc/grpc-js';
import { audit } from '@haven/proto';
import { callUnary } from '@haven/service';

/** How {@link readAuditLedger} pages. */
export interface ReadAuditLedgerOptions {
  /** The most pages of 500 entries to read. */
  readonly maxPages: number;
  /** Each page's gRPC deadline (default: none). */
  readonly deadlineMs?: number;
}

/**
 * Every ListAuditEvents entry, in the ledger's order, read in pages of 500 with the metadata `as()` gives for
 * each page (an auditor's token). Throws when the ledger has not ended after `maxPages` pages, or a page fails.
 */
export async function readAuditLedger(
  client: audit.AuditServiceClient,
  as: () => grpc.Metadata | Promise<grpc.Metadata>,
  options: ReadAuditLedgerOptions,
): Promise<audit.AuditEvent[]> {
  const entries: audit.AuditEvent[] = [];
  let pageToken = '';
  for (let page = 0; page < options.maxPages; page++) {
    const res = await callUnary(
      client,
      'listAuditEvents',
      audit.ListAuditEventsRequest.fromPartial({ pageSize: 500, pageToken }),
      await as(),
      options.deadlineMs === undefined ? {} : { deadlineMs: options.deadlineMs },
    );
    entries.push(...res.auditEvents);
    pageToken = res.nextPageToken;
    if (pageToken === '') return entries;
  }
  throw new Error(`the audit ledger did not end within ${options.maxPages} pages`);
}
