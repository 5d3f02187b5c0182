/** Test support for the clinician console's specs: a visit of today's list, as the gateway answers it. */
import type { VisitSummary } from '../staff/types';

/** Visit `v-1` in progress, unlocked, with one admitted participant and nobody in the lobby; `extra` over it. */
export const visitSummary = (extra: Partial<VisitSummary> = {}): VisitSummary => ({
  id: 'v-1',
  startTime: null,
  endTime: null,
  status: 'in_progress',
  locked: false,
  lobbyCount: 0,
  admittedCount: 1,
  ...extra,
});
