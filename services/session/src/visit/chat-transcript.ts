/**
 * The chat transcript exported into the visit record, part of the Visit aggregate: who may export (a host
 * clinician), the event, and how a transcript is written. Pure: no I/O. The transcript is PHI: it travels only
 * sealed in the envelope's `phi` (`{ transcript }`).
 */
import { PermissionError, PreconditionError } from '@haven/errors';
import type { SealedPhi } from '@haven/crypto';
import { chatMember, type ChatCaller, type ChatRole, type ChatVisit } from './chat';

export const TranscriptEventType = {
  Exported: 'haven.session.v1.TranscriptExported',
} as const;

/** A host clinician exported the chat; the transcript is in the envelope's sealed `phi`, never here. */
export interface TranscriptExported {
  readonly type: typeof TranscriptEventType.Exported;
  readonly data: {
    readonly visitId: string;
    readonly transcriptId: string;
    /** `users/{id}`. */
    readonly exportedBy: string;
    readonly messageCount: number;
    readonly fileCount: number;
    readonly exportedAt: string;
  };
}

/** Command: a host clinician exports the chat (already written and sealed). */
export interface ExportChatTranscript {
  readonly type: 'ExportChatTranscript';
  readonly data: {
    readonly caller: ChatCaller;
    readonly participantId: string;
    readonly transcriptId: string;
    readonly messageCount: number;
    readonly fileCount: number;
    readonly phi: SealedPhi;
    readonly at: string;
  };
}

/** Throws PermissionError unless the caller is a host clinician of the visit (guests and patients are not). */
export function requireTranscriptReader(visit: ChatVisit, caller: ChatCaller, participantId: string): void {
  if (chatMember(visit, caller, participantId) !== 'clinician') {
    throw new PermissionError('only a host clinician of this visit may export or read its chat transcript');
  }
}

/** Decides an export. Throws PermissionError (not a host clinician), PreconditionError (nothing to export). */
export function decideExportTranscript(
  visit: ChatVisit,
  data: ExportChatTranscript['data'],
): (TranscriptExported & { readonly phi: SealedPhi })[] {
  requireTranscriptReader(visit, data.caller, data.participantId);
  if (data.messageCount + data.fileCount === 0) {
    throw new PreconditionError('the chat is empty: there is nothing to export');
  }
  return [
    {
      type: TranscriptEventType.Exported,
      data: {
        visitId: visit.visitId,
        transcriptId: data.transcriptId,
        exportedBy: `users/${data.caller.id}`,
        messageCount: data.messageCount,
        fileCount: data.fileCount,
        exportedAt: data.at,
      },
      phi: data.phi,
    },
  ];
}

/** One chat entry as the transcript needs it. */
export interface TranscriptEntry {
  readonly role: ChatRole;
  readonly postedAt: string;
  readonly text: string;
  readonly file?: { readonly fileName: string; readonly mediaType: string; readonly sizeBytes: number };
}

const ROLE_LABEL: Readonly<Record<ChatRole, string>> = {
  clinician: 'Clinician',
  patient: 'Patient',
  guest: 'Guest',
};

/**
 * The transcript's text: a heading, one line per message (`[time] Role: text`, later lines of a message
 * indented) and per shared file (`[time] Role shared a file: name (type, N bytes)`), oldest first.
 */
export function writeTranscript(visitId: string, entries: readonly TranscriptEntry[]): string {
  const lines = [`Chat transcript of visit ${visitId}`, ''];
  for (const e of entries) {
    const head = `[${e.postedAt}] ${ROLE_LABEL[e.role]}`;
    if (e.file) {
      lines.push(
        `${head} shared a file: ${e.file.fileName} (${e.file.mediaType}, ${e.file.sizeBytes} bytes)`,
      );
    } else {
      lines.push(`${head}: ${e.text.replace(/\r?\n/g, '\n    ')}`);
    }
  }
  return `${lines.join('\n')}\n`;
}
