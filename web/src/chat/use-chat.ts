/**
 * The visit chat as a hook: its own live channel to the gateway (`chat-open` on every (re)connect brings the
 * history; new messages are pushed), sending with a reference per message, and an unread count while the panel
 * is closed. Messages are kept by id, so a reconnect's history never shows one twice.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import { api, ApiError, csrfToken } from '../api/client';
import type {
  ChatFileView as ChatFile,
  ChatFileSharedView,
  ChatMessageView as ChatMessage,
  ChatTranscriptAnswerView,
} from '../../../services/gateway/src/chat-view';
import {
  openLive,
  type LiveChannel,
  type LiveMessage,
  type LiveOptions,
  type LivePageMessage,
} from '../live/live-channel';

/** Whose chat: a patient's page (its visit comes from its token) or a clinician's page for one visit. */
export type ChatTarget = { readonly as: 'patient' } | { readonly visitId: string };

/** One chat message as the gateway sends it, and the file it may share. */
export type { ChatMessage, ChatFile };

/** The file types the chat takes (the service checks the bytes; this only narrows the picker). */
export const CHAT_FILE_ACCEPT = 'image/png,image/jpeg,image/webp,application/pdf';

/** Where a target's files are uploaded, and where file `id` downloads from. */
export function chatFilePath(target: ChatTarget, id?: string): string {
  const base = 'as' in target ? '/api/patient/chat/files' : `/api/visits/${target.visitId}/chat/files`;
  return id === undefined ? base : `${base}/${id}`;
}

/** The size of a file for people: `820 KB`, `2.4 MB`. */
export function fileSize(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  if (bytes < 1_000_000) return `${Math.round(bytes / 1000)} KB`;
  return `${(bytes / 1_000_000).toFixed(1)} MB`;
}

/** The longest message the service takes (characters). */
export const CHAT_MAX_CHARS = 2000;

/** Opens a live channel (tests hand in a fake). */
export type OpenChannel = (options: LiveOptions<LiveMessage>) => LiveChannel;

/** What the chat panel and its button need. */
export interface Chat {
  readonly messages: readonly ChatMessage[];
  readonly connected: boolean;
  /** A message to show about the last send (rate limit, too long, not allowed…), or null. */
  readonly error: string | null;
  readonly sending: boolean;
  readonly unread: number;
  readonly open: boolean;
  setOpen(open: boolean): void;
  /** Sends `text`; resolves true when the service took it. */
  send(text: string): Promise<boolean>;
  /** Shares a file (an HTTP upload, not the live channel); resolves true when the service took it. */
  shareFile(file: File): Promise<boolean>;
  /** Where a shared file downloads from. */
  fileUrl(file: ChatFile): string;
  /**
   * Exports the chat into the visit record (a clinician's page only; undefined on the patient's): resolves true
   * when it was saved, and sets `notice` to say so.
   */
  exportTranscript?: () => Promise<boolean>;
  /** What the last export did, or null. */
  readonly notice: string | null;
}

function errorText(code: string, reason: string | undefined, retryAfterMs: number | undefined): string {
  switch (code) {
    case 'invalid':
      return `Message not sent: ${reason ?? 'not valid'}.`;
    case 'rate-limited':
      return `You are sending messages too fast. Try again in ${Math.ceil((retryAfterMs ?? 1000) / 1000)} s.`;
    case 'forbidden':
      return 'The chat is open to the people in this visit only.';
    case 'ended':
      return 'The visit has ended.';
    default:
      return 'Message not sent. Please try again.';
  }
}

function merge(list: readonly ChatMessage[], more: readonly ChatMessage[]): ChatMessage[] {
  const byId = new Map(list.map((m) => [m.id, m]));
  for (const m of more) byId.set(m.id, m);
  return [...byId.values()].sort((a, b) => a.at.localeCompare(b.at));
}

/** Runs the chat of one visit while `target` is given; nothing (no socket) without one. */
export function useChat(target: ChatTarget | undefined, openChannel: OpenChannel = openLive): Chat {
  const [messages, setMessages] = useState<readonly ChatMessage[]>([]);
  const [connected, setConnected] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [sending, setSending] = useState(false);
  const [unread, setUnread] = useState(0);
  const [open, setOpenState] = useState(false);
  const openRef = useRef(open);
  const channel = useRef<LiveChannel | null>(null);
  const pending = useRef(new Map<string, (ok: boolean) => void>());
  const seq = useRef(0);
  const key = target ? ('as' in target ? 'patient' : `visit:${target.visitId}`) : '';

  useEffect(() => {
    if (!target) return undefined;
    const opening: LivePageMessage =
      'as' in target ? { type: 'chat-open' } : { type: 'chat-open', visitId: target.visitId };
    const waiting = pending.current;
    const ch = openChannel({
      ...('as' in target ? { as: 'patient' as const } : {}),
      onStatus: (status) => {
        setConnected(status === 'open');
        if (status === 'open') ch.send(opening);
      },
      onMessage: (m) => {
        if (m.type === 'chat') {
          setMessages((list) => {
            const next = merge(list, m.messages);
            if (!openRef.current) setUnread((n) => n + (next.length - list.length));
            return next;
          });
        } else if (m.type === 'chat-sent') {
          if (m.message) {
            const sent = m.message;
            setMessages((list) => merge(list, [sent]));
          }
          if (m.ref) waiting.get(m.ref)?.(true);
          setError(null);
        } else if (m.type === 'chat-error') {
          setError(errorText(m.code, m.reason, m.retryAfterMs));
          if (m.ref) waiting.get(m.ref)?.(false);
        }
      },
    });
    channel.current = ch;
    return () => {
      ch.close();
      channel.current = null;
      for (const done of waiting.values()) done(false);
      waiting.clear();
    };
    // The target is identified by `key`.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key, openChannel]);

  const setOpen = useCallback((value: boolean) => {
    openRef.current = value;
    setOpenState(value);
    if (value) setUnread(0);
  }, []);

  const send = useCallback(
    async (text: string): Promise<boolean> => {
      const ch = channel.current;
      if (!ch || !target) return false;
      seq.current += 1;
      const ref = `m${seq.current}`;
      const visitId = 'visitId' in target ? { visitId: target.visitId } : {};
      const answered = new Promise<boolean>((resolve) => {
        pending.current.set(ref, (ok) => {
          pending.current.delete(ref);
          resolve(ok);
        });
      });
      if (!ch.send({ type: 'chat-send', text, ref, ...visitId })) {
        pending.current.delete(ref);
        setError('Not connected. Your message was not sent.');
        return false;
      }
      setSending(true);
      try {
        return await answered;
      } finally {
        setSending(false);
      }
    },
    [target],
  );

  const shareFile = useCallback(
    async (file: File): Promise<boolean> => {
      if (!target) return false;
      setSending(true);
      try {
        const res = await fetch(chatFilePath(target), {
          method: 'POST',
          credentials: 'same-origin',
          headers: {
            accept: 'application/json',
            'content-type': 'application/octet-stream',
            'x-csrf-token': csrfToken(),
            'x-file-name': encodeURIComponent(file.name),
          },
          body: file,
        });
        const data: unknown = await res.json().catch(() => null);
        if (!res.ok) {
          const err = new ApiError(res.status, data);
          const detail = err.fieldViolations.map((v) => v.description).join('; ');
          setError(
            res.status === 413
              ? 'File not sent: it is too large.'
              : `File not sent: ${detail || err.message}`.replace(/\.?$/, '.'),
          );
          return false;
        }
        const message = (data as ChatFileSharedView | null)?.message;
        if (message) setMessages((list) => merge(list, [message]));
        setError(null);
        return true;
      } catch {
        setError('File not sent. Check your connection.');
        return false;
      } finally {
        setSending(false);
      }
    },
    [target],
  );

  const fileUrl = useCallback(
    (file: ChatFile): string => (target ? chatFilePath(target, file.id) : ''),
    [target],
  );

  const [notice, setNotice] = useState<string | null>(null);
  const visitId = target && 'visitId' in target ? target.visitId : undefined;
  const exportTranscript = useCallback(async (): Promise<boolean> => {
    if (!visitId) return false;
    setNotice(null);
    try {
      const r = await api<ChatTranscriptAnswerView>('POST', `/api/visits/${visitId}/chat/transcript`, {});
      const n = r.transcript?.messageCount ?? 0;
      const f = r.transcript?.fileCount ?? 0;
      setNotice(
        `Transcript saved to the visit record (${n} message${n === 1 ? '' : 's'}, ${f} file${f === 1 ? '' : 's'}).`,
      );
      setError(null);
      return true;
    } catch (err) {
      setError(
        err instanceof ApiError && err.status === 409
          ? 'Nothing to export yet.'
          : `Transcript not saved: ${err instanceof Error ? err.message : 'please try again.'}`,
      );
      return false;
    }
  }, [visitId]);

  return {
    messages,
    connected,
    error,
    sending,
    unread,
    open,
    setOpen,
    send,
    shareFile,
    fileUrl,
    notice,
    ...(visitId ? { exportTranscript } : {}),
  };
}
