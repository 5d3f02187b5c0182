/**
 * Who may do what in scheduling (defence in depth behind the central authorization table of @haven/auth): admin
 * and front desk act for every clinician, and so does a hospital system's service account holding the RPC's
 * scope; a clinician only for their own appointments and patients.
 */
import { PermissionError } from '@haven/errors';
import type { Principal } from '@haven/service';

/** Service-account scopes of the scheduling API. */
export const SchedulingScope = {
  PatientsRead: 'scheduling.patients.read',
  PatientsWrite: 'scheduling.patients.write',
  AppointmentsRead: 'scheduling.appointments.read',
  AppointmentsWrite: 'scheduling.appointments.write',
} as const;
export type SchedulingScope = (typeof SchedulingScope)[keyof typeof SchedulingScope];

/** Admin or front desk, or a service account holding `scope`: acts for every clinician. */
export function isStaff(p: Principal, scope?: SchedulingScope): boolean {
  if (p.kind === 'user') return p.role === 'admin' || p.role === 'front_desk';
  return p.kind === 'service_account' && scope !== undefined && p.scopes.includes(scope);
}

/** A clinician user. */
export function isClinician(p: Principal): boolean {
  return p.kind === 'user' && p.role === 'clinician';
}

/** Throws PermissionError unless the caller is staff (or a service account with `scope`) or a clinician. */
export function requireSchedulingCaller(p: Principal, scope: SchedulingScope): void {
  if (!isStaff(p, scope) && !isClinician(p)) throw new PermissionError('this caller may not use this method');
}

/** True when the caller may see/act on an appointment of `clinicianId`. */
export function mayActForClinician(p: Principal, clinicianId: string, scope: SchedulingScope): boolean {
  return isStaff(p, scope) || (isClinician(p) && p.id === clinicianId);
}
