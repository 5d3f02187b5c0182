/**
 * Erasing a patient (admins): the patient's id, a reason and the id typed again to confirm. Erasure destroys
 * the patient's key (crypto-shredding): their details, secure messages, visit chat and recordings can never be
 * read again; the audit ledger keeps the events, never the PHI. A recording under legal hold is kept until the
 * hold is released. Refused while the patient has an appointment to come or a visit in progress.
 */
import { dateTimeOf } from '../staff/time';
import { useState, type FormEvent } from 'react';
import { api } from '../api/client';
import { Field, FormMessages, formValue, useForm } from '../staff/form';
import { Options } from '../ui/options';
import type { PatientErasedView } from '../../../services/gateway/src/appointment-view';

const LABELS = { id: 'Patient id', reason: 'Reason', confirm: 'Type the patient id again' };

const REASONS: ReadonlyArray<readonly [string, string]> = [
  ['patient_request', 'The patient asked to be erased'],
  ['registered_in_error', 'Registered by mistake'],
  ['duplicate_record', 'Duplicate of another record'],
  ['retention_expired', 'The retention period ran out'],
  ['legal_order', 'A court or regulator ordered it'],
];

/** The erase-a-patient card. */
export function EraseCard() {
  const form = useForm(LABELS);
  const [id, setId] = useState('');

  const erase = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const el = event.currentTarget;
    const data = new FormData(el);
    const patientId = formValue(data, 'id').trim();
    void form.run(el, async () => {
      const r = await api<PatientErasedView>('POST', `/api/patients/${encodeURIComponent(patientId)}/erase`, {
        reason: formValue(data, 'reason'),
        confirm: formValue(data, 'confirm').trim(),
      });
      const at = r.patient.erasedAt ? ` on ${dateTimeOf(r.patient.erasedAt)}` : '';
      form.setSuccess(
        `Patient ${r.patient.id} was erased${at}. Their details, messages, visit chat and recordings can no ` +
          'longer be read; a recording under legal hold is kept until the hold is released.',
      );
      el.reset();
      setId('');
    });
  };

  return (
    <section id="admin-erase" className="card" aria-labelledby="admin-erase-title">
      <h2 id="admin-erase-title">Erase a patient</h2>
      <p className="hint">
        Destroys the patient’s key: their details, secure messages, visit chat and recordings can never be
        read again, by anyone. The audit ledger keeps the events (who, when, why), never the patient’s data.
        Cancel the patient’s appointments and end their visits first.
      </p>
      <form id="admin-erase-form" noValidate onSubmit={erase} aria-busy={form.busy}>
        <Field
          name="id"
          label={LABELS.id}
          state={form}
          autoComplete="off"
          required
          value={id}
          onChange={(e) => setId(e.currentTarget.value)}
        />
        <Field name="reason" label={LABELS.reason} state={form}>
          <select id="reason" name="reason" defaultValue="" aria-describedby="reason-error" required>
            <option value="" disabled>
              Choose a reason
            </option>
            <Options of={REASONS} />
          </select>
        </Field>
        <Field name="confirm" label={LABELS.confirm} state={form} autoComplete="off" required />
        <FormMessages id="admin-erase" state={form} />
        <button type="submit" className="button button-danger" disabled={form.busy || id.trim() === ''}>
          Erase patient
        </button>
      </form>
    </section>
  );
}
