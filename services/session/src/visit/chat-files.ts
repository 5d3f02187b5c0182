/**
 * Files shared in the visit's chat, part of the Visit aggregate: which types are allowed (found from the
 * content's first bytes, never from a declared MIME type or the name), the name rules, the event and the decider.
 * Pure: no I/O. The file name may be PHI: it travels only sealed in the envelope's `phi` (`{ fileName }`); the
 * bytes are stored encrypted by the service before the decider runs.
 */
import { ValidationError } from '@haven/errors';
import type { SealedPhi } from '@haven/crypto';
import { chatPost, type ChatPoster, type ChatRole, type ChatVisit } from './chat';

export const ChatFileEventType = {
  Shared: 'haven.session.v1.ChatFileShared',
} as const;

/** The types a chat file may have. */
export const CHAT_FILE_TYPES = ['image/png', 'image/jpeg', 'image/webp', 'application/pdf'] as const;
export type ChatFileType = (typeof CHAT_FILE_TYPES)[number];

/** Default largest file (bytes) when the clinic sets none: 10 MiB. */
export const DEFAULT_CHAT_FILE_MAX_BYTES = 10 * 1024 * 1024;

const startsWith = (bytes: Uint8Array, prefix: readonly number[], at = 0): boolean =>
  bytes.length >= at + prefix.length && prefix.every((b, i) => bytes[at + i] === b);
const ascii = (s: string): number[] => [...s].map((c) => c.charCodeAt(0));

/**
 * The type of `bytes` from their signature: PNG (`89 50 4E 47 0D 0A 1A 0A`), JPEG (`FF D8 FF`), WebP
 * (`RIFF….WEBP`), PDF (`%PDF-`); undefined for anything else (HTML, SVG, executables, a renamed text file).
 */
export function detectChatFileType(bytes: Uint8Array): ChatFileType | undefined {
  if (startsWith(bytes, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'image/png';
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return 'image/jpeg';
  if (startsWith(bytes, ascii('RIFF')) && startsWith(bytes, ascii('WEBP'), 8)) return 'image/webp';
  if (startsWith(bytes, ascii('%PDF-'))) return 'application/pdf';
  return undefined;
}

/** The violations of a file name: empty, too long, path separators or control characters. */
export function chatFileNameViolations(name: string): { field: string; description: string }[] {
  const chars = [...name].length;
  if (name.trim().length === 0) return [{ field: 'file_name', description: 'must not be empty' }];
  if (chars > 200) return [{ field: 'file_name', description: 'must be at most 200 characters' }];
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001F\u007F/\\]/.test(name) || name === '.' || name === '..') {
    return [{ field: 'file_name', description: 'must not contain path separators or control characters' }];
  }
  return [];
}

/** A member shared a file; its name is in the envelope's sealed `phi` (`{ fileName }`), never here. */
export interface ChatFileShared {
  readonly type: typeof ChatFileEventType.Shared;
  readonly data: {
    readonly visitId: string;
    readonly participantId: string;
    /** `users/{id}` or `patients/{id}`. */
    readonly principal: string;
    readonly role: ChatRole;
    readonly messageId: string;
    readonly fileId: string;
    readonly mediaType: ChatFileType;
    readonly sizeBytes: number;
    readonly postedAt: string;
  };
}

/** Command: a member shares a file already stored (encrypted) under `fileId`. */
export interface ShareChatFile {
  readonly type: 'ShareChatFile';
  readonly data: ChatPoster & {
    readonly fileId: string;
    readonly fileName: string;
    readonly mediaType: ChatFileType;
    readonly sizeBytes: number;
    readonly maxBytes: number;
    /** The file name sealed. */
    readonly phi: SealedPhi;
  };
}

/**
 * Decides a share on an open visit. Throws ValidationError (name, size, type), PermissionError (not a member),
 * ResourceExhaustedError (the chat's rate limit counts files too).
 */
export function decideShareChatFile(
  visit: ChatVisit,
  data: ShareChatFile['data'],
): (ChatFileShared & { readonly phi: SealedPhi })[] {
  const violations = chatFileNameViolations(data.fileName);
  if (data.sizeBytes <= 0) violations.push({ field: 'content', description: 'must not be empty' });
  if (data.sizeBytes > data.maxBytes) {
    violations.push({ field: 'content', description: `must be at most ${data.maxBytes} bytes` });
  }
  if (!(CHAT_FILE_TYPES as readonly string[]).includes(data.mediaType)) {
    violations.push({ field: 'content', description: 'must be a PNG, JPEG or WebP image or a PDF' });
  }
  if (violations.length > 0) throw new ValidationError(violations);
  return [
    {
      type: ChatFileEventType.Shared,
      data: {
        ...chatPost(visit, data),
        fileId: data.fileId,
        mediaType: data.mediaType,
        sizeBytes: data.sizeBytes,
      },
      phi: data.phi,
    },
  ];
}
