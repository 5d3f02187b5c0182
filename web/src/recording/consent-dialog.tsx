/**
 * The consent dialog: a modal (WAI-ARIA dialog pattern) with the focus kept inside while it is open, the first
 * action focused on opening, Escape to close it unanswered, and the focus given back where it was on closing.
 */
import { useEffect, useRef, type KeyboardEvent, type ReactNode } from 'react';

/** Props of {@link ConsentDialog}. */
export interface ConsentDialogProps {
  readonly title: string;
  readonly children: ReactNode;
  /** The main action (e.g. Give consent). */
  readonly confirm: { readonly label: string; readonly onClick: () => void };
  /** The other answer (e.g. Refuse). */
  readonly decline: { readonly label: string; readonly onClick: () => void };
  /** Escape: closes without an answer. */
  readonly onDismiss: () => void;
  readonly busy?: boolean;
}

const FOCUSABLE = 'button:not([disabled]), [href], input:not([disabled]), [tabindex]:not([tabindex="-1"])';

/** The modal. Render it only while it is open. */
export function ConsentDialog({
  title,
  children,
  confirm,
  decline,
  onDismiss,
  busy = false,
}: ConsentDialogProps) {
  const box = useRef<HTMLDivElement>(null);
  const first = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    const before = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    first.current?.focus();
    return () => {
      if (before?.isConnected) before.focus();
    };
  }, []);

  const onKeyDown = (e: KeyboardEvent<HTMLDivElement>) => {
    if (e.key === 'Escape') {
      e.preventDefault();
      onDismiss();
      return;
    }
    if (e.key !== 'Tab' || !box.current) return;
    const items = [...box.current.querySelectorAll<HTMLElement>(FOCUSABLE)];
    const head = items[0];
    const tail = items[items.length - 1];
    if (!head || !tail) return;
    if (e.shiftKey && document.activeElement === head) {
      e.preventDefault();
      tail.focus();
    } else if (!e.shiftKey && document.activeElement === tail) {
      e.preventDefault();
      head.focus();
    }
  };

  return (
    <div className="rec-backdrop">
      <div
        ref={box}
        className="rec-dialog"
        role="dialog"
        aria-modal="true"
        aria-labelledby="rec-dialog-title"
        aria-describedby="rec-dialog-body"
        onKeyDown={onKeyDown}
      >
        <h2 id="rec-dialog-title">{title}</h2>
        <div id="rec-dialog-body">{children}</div>
        <div className="rec-dialog-actions">
          <button
            ref={first}
            type="button"
            className="button button-primary"
            disabled={busy}
            onClick={confirm.onClick}
          >
            {confirm.label}
          </button>
          <button type="button" className="button button-quiet" disabled={busy} onClick={decline.onClick}>
            {decline.label}
          </button>
        </div>
      </div>
    </div>
  );
}
