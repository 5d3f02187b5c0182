/**
 * The only fields a message template may name, in a file of its own with no imports: scheduling's linter and
 * renderer (./template.ts) and the admin's template editor in the browser (web/src/admin) read this one list.
 * Nothing about the patient (name, date of birth, reason, contact, record number) is ever a field.
 */
export const TEMPLATE_FIELDS = [
  'clinic_name',
  'start_time',
  'clinician_name',
  'join_link',
  'passcode_note',
  'opt_out',
  'passcode',
] as const;
