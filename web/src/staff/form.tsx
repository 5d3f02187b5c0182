/**
 * Forms of the staff app: a field with its label and its own error line, and one hook that turns an API error
 * into messages next to the fields it names (the gateway's field violations) or one message for the form.
 */
import { useCallback, useState, type InputHTMLAttributes, type ReactNode, type Ref } from 'react';
import { ApiError } from '../api/client';

/** The state of one form: per-field errors, a form-level error and success line, and whether it is busy. */
export interface FormState {
  readonly fieldErrors: Readonly<Record<string, string>>;
  readonly error: string | null;
  readonly success: string | null;
  readonly busy: boolean;
  /** Clears every message. */
  clear(): void;
  setSuccess(message: string | null): void;
  setError(message: string | null): void;
  /**
   * Shows an error: field violations next to their fields, anything else in the form's own line; the focus moves
   * to the first invalid field of `form` or to its error line.
   */
  fail(err: unknown, form?: HTMLFormElement): void;
  /** Runs a submission of `form`: clears the messages, marks it busy, shows a failure; resolves whether it worked. */
  run(form: HTMLFormElement, fn: () => Promise<void>): Promise<boolean>;
}

/** A message for an unknown failure. */
export const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/**
 * One form's messages. `labels` names the fields the gateway may report (field → its label's words: "Full
 * name must not be empty.").
 */
export function useForm(labels: Readonly<Record<string, string>>): FormState {
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});
  const [error, setError] = useState<string | null>(null);
  const [success, setSuccess] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const clear = useCallback(() => {
    setFieldErrors({});
    setError(null);
    setSuccess(null);
  }, []);

  const fail = useCallback(
    (err: unknown, form?: HTMLFormElement) => {
      const violations = err instanceof ApiError ? err.fieldViolations : [];
      const byField = new Map<string, string[]>();
      for (const v of violations) byField.set(v.field, [...(byField.get(v.field) ?? []), v.description]);
      const general: string[] = [];
      const next: Record<string, string> = {};
      for (const [field, descriptions] of byField) {
        const label = labels[field];
        if (label === undefined) general.push(...descriptions);
        else next[field] = `${label} ${[...new Set(descriptions)].join('; ')}.`;
      }
      setFieldErrors(next);
      const first = Object.keys(next)[0];
      if (violations.length === 0) setError(messageOf(err));
      else if (general.length > 0) setError(`${general.join('; ')}.`);
      else setError('Please correct the highlighted fields.');
      setTimeout(() => {
        const field = first ? form?.elements.namedItem(first) : null;
        const target = field instanceof HTMLElement ? field : form?.querySelector<HTMLElement>('.form-error');
        target?.focus();
      });
    },
    [labels],
  );

  const run = useCallback(
    async (form: HTMLFormElement, fn: () => Promise<void>) => {
      clear();
      setBusy(true);
      try {
        await fn();
        return true;
      } catch (err) {
        fail(err, form);
        return false;
      } finally {
        setBusy(false);
      }
    },
    [clear, fail],
  );

  return { fieldErrors, error, success, busy, clear, setSuccess, setError, fail, run };
}

/** The form-level error and success lines. */
export function FormMessages({ id, state: form }: { id: string; state: FormState }) {
  return (
    <>
      {form.error ? (
        <p id={`${id}-error`} className="form-error" role="alert" tabIndex={-1}>
          {form.error}
        </p>
      ) : null}
      {form.success ? (
        <p id={`${id}-success`} className="form-success" role="status">
          {form.success}
        </p>
      ) : null}
    </>
  );
}

/** A labelled input with its error line (`<name>-error`). */
export function Field({
  name,
  label,
  hint,
  state: form,
  className = 'field',
  children,
  ref,
  ...input
}: {
  ref?: Ref<HTMLInputElement>;
  name: string;
  label: string;
  hint?: string;
  state?: FormState;
  className?: string;
  /** Instead of an <input>: a <select> or another control with id={name}. */
  children?: ReactNode;
} & InputHTMLAttributes<HTMLInputElement>) {
  const error = form?.fieldErrors[name];
  return (
    <div className={className}>
      <label htmlFor={name}>
        {label}
        {hint ? (
          <>
            {' '}
            <span className="hint">{hint}</span>
          </>
        ) : null}
      </label>
      {children ?? (
        <input
          ref={ref}
          id={name}
          name={name}
          aria-describedby={form ? `${name}-error` : undefined}
          aria-invalid={error ? true : undefined}
          {...input}
        />
      )}
      {form ? (
        <p id={`${name}-error`} className="field-error" hidden={!error}>
          {error ?? ''}
        </p>
      ) : null}
    </div>
  );
}

/** A string value of a FormData entry ('' for none or a file). */
export function formValue(data: FormData, name: string): string {
  const v = data.get(name);
  return typeof v === 'string' ? v : '';
}
