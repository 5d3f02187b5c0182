/** One line of a screen that is there only while it has something to say: an error, a success, a notice or a hint. */
import type { ReactNode } from 'react';

const KINDS = {
  error: { className: 'form-error', role: 'alert' },
  success: { className: 'form-success', role: 'status' },
  notice: { className: 'notice', role: 'status' },
  hint: { className: 'hint', role: undefined },
} as const;

/**
 * A message line: an error is an alert, a success or a notice a status, a hint plain text. Nothing is drawn when
 * `shown` is false or there is nothing to say (null, undefined, false or '').
 */
export function Note({
  id,
  kind,
  shown = true,
  children,
}: {
  id?: string;
  kind: keyof typeof KINDS;
  shown?: boolean;
  children: ReactNode;
}) {
  if (!shown || children === null || children === undefined || children === false || children === '')
    return null;
  const { className, role } = KINDS[kind];
  return (
    <p id={id} className={className} role={role}>
      {children}
    </p>
  );
}
