/**
 * The visit chat's panel and its control-bar button. Messages are shown as text, exactly as typed: markup is
 * never interpreted, links are not made clickable and nothing in a message is fetched (no previews). The list is
 * a log region (aria-live polite) so a screen reader hears new messages; the button says how many are unread.
 */
import { useEffect, useId, useRef, useState, type FormEvent, type KeyboardEvent } from 'react';
import { ControlIcon } from '../visit/control-icon';
import { CHAT_FILE_ACCEPT, CHAT_MAX_CHARS, fileSize, type Chat } from './use-chat';
import './chat.css';

const time = (iso: string): string => {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '' : d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
};

const ROLE_LABEL = { clinician: 'Clinician', patient: 'Patient', guest: 'Guest' } as const;

/** The "Chat" toggle of the control bar, with the unread count. */
export function ChatButton({ chat, panelId }: { chat: Chat; panelId: string }) {
  const label = chat.unread > 0 ? `Chat, ${chat.unread} unread` : 'Chat';
  return (
    <button
      type="button"
      className="control control-chat"
      aria-pressed={chat.open}
      aria-controls={panelId}
      aria-label={label}
      onClick={() => chat.setOpen(!chat.open)}
    >
      <ControlIcon name="chat" />
      <span>Chat</span>
      {chat.unread > 0 ? (
        <span className="chat-unread" aria-hidden="true">
          {chat.unread > 99 ? '99+' : chat.unread}
        </span>
      ) : null}
    </button>
  );
}

/**
 * The panel: the messages (oldest first) and the box to write one. "You" marks the messages the service says
 * this page's own participant posted (not every message of the page's role: two host clinicians are two people).
 */
export function ChatPanel({ chat, id }: { chat: Chat; id: string }) {
  const [draft, setDraft] = useState('');
  const list = useRef<HTMLOListElement>(null);
  const picker = useRef<HTMLInputElement>(null);
  const inputId = useId();
  const counterId = useId();
  const chars = [...draft].length;
  const tooLong = chars > CHAT_MAX_CHARS;

  useEffect(() => {
    const el = list.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [chat.messages.length]);

  const submit = async (event?: FormEvent) => {
    event?.preventDefault();
    if (draft.trim() === '' || tooLong || chat.sending) return;
    if (await chat.send(draft)) setDraft('');
  };
  const onKeyDown = (event: KeyboardEvent<HTMLTextAreaElement>) => {
    if (event.key === 'Enter' && !event.shiftKey) {
      event.preventDefault();
      void submit();
    }
  };

  return (
    <section id={id} className="chat-panel" aria-label="Chat" hidden={!chat.open}>
      <ol ref={list} className="chat-list" role="log" aria-live="polite" aria-label="Chat messages">
        {chat.messages.length === 0 ? <li className="chat-empty">No messages yet.</li> : null}
        {chat.messages.map((m) => (
          <li key={m.id} className={`chat-message${m.mine ? ' chat-mine' : ''}`}>
            <span className="chat-meta">
              {m.mine ? 'You' : ROLE_LABEL[m.senderRole]}
              {' · '}
              <time dateTime={m.at}>{time(m.at)}</time>
            </span>
            {m.file ? (
              <a className="chat-file" href={chat.fileUrl(m.file)} download={m.file.name}>
                <span className="chat-file-name">{m.file.name}</span>{' '}
                <span className="chat-file-size">({fileSize(m.file.sizeBytes)})</span>
                <span className="visually-hidden">, download</span>
              </a>
            ) : (
              <span className="chat-text">{m.text}</span>
            )}
          </li>
        ))}
      </ol>
      <form className="chat-form" onSubmit={(e) => void submit(e)}>
        <label htmlFor={inputId} className="visually-hidden">
          Message
        </label>
        <textarea
          id={inputId}
          className="text-field chat-input"
          rows={2}
          value={draft}
          aria-describedby={counterId}
          aria-invalid={tooLong}
          placeholder="Type a message"
          onChange={(e) => setDraft(e.target.value)}
          onKeyDown={onKeyDown}
        />
        <input
          ref={picker}
          type="file"
          className="visually-hidden"
          tabIndex={-1}
          aria-hidden="true"
          accept={CHAT_FILE_ACCEPT}
          onChange={(e) => {
            const file = e.target.files?.[0];
            e.target.value = '';
            if (file) void chat.shareFile(file);
          }}
        />
        <button
          type="button"
          className="button button-quiet chat-attach"
          aria-label="Attach a file (image or PDF)"
          disabled={chat.sending}
          onClick={() => picker.current?.click()}
        >
          Attach
        </button>
        <button
          type="submit"
          className="button button-primary chat-send"
          disabled={!chat.connected || tooLong || draft.trim() === ''}
        >
          Send
        </button>
        <p id={counterId} className={`chat-counter${tooLong ? ' chat-counter-bad' : ''}`}>
          {chars}/{CHAT_MAX_CHARS}
        </p>
      </form>
      {chat.exportTranscript ? (
        <button
          type="button"
          className="button button-quiet chat-export"
          disabled={chat.messages.length === 0}
          onClick={() => void chat.exportTranscript?.()}
        >
          Save transcript to visit record
        </button>
      ) : null}
      {chat.notice ? (
        <p className="chat-notice" role="status">
          {chat.notice}
        </p>
      ) : null}
      {chat.error ? (
        <p className="chat-error" role="alert">
          {chat.error}
        </p>
      ) : null}
    </section>
  );
}
