/**
 * What every gRPC handler of the visit reads first: resource names (`visits/{id}`,
 * `visits/{visit}/participants/{participant}`) checked and split, and the authenticated principal as the
 * decider's caller.
 */
import { ValidationError } from '@haven/errors';
import { idOfName, RESOURCE_ID, type Principal } from '@haven/service';
import type { Caller } from './decide';

/** An id inside a resource name: what the session issues and the store's stream names accept. */
export const ID = RESOURCE_ID;

/** The id of `<collection>/{id}` in `name`, or a ValidationError naming `field`. */
export function visitIdOf(name: string, field = 'visit', collection = 'visits'): string {
  return idOfName(name, field, collection);
}

/** The visit and participant ids of `visits/{visit}/participants/{participant}`, or a ValidationError. */
export function participantNameOf(name: string, field: string): { visitId: string; participantId: string } {
  const m = /^visits\/([^/]+)\/participants\/([^/]+)$/.exec(name);
  if (!m?.[1] || !m[2] || !ID.test(m[1]) || !ID.test(m[2])) {
    throw new ValidationError([{ field, description: 'must be visits/{visit}/participants/{participant}' }]);
  }
  return { visitId: m[1], participantId: m[2] };
}

/** The principal as the visit's decider knows callers. */
export function callerOf(principal: Principal): Caller {
  return {
    kind: principal.kind,
    id: principal.id,
    ...(principal.role !== undefined ? { role: principal.role } : {}),
    ...(principal.subjectOf !== undefined ? { visit: principal.subjectOf } : {}),
    ...(principal.sessionId !== undefined ? { sessionId: principal.sessionId } : {}),
  };
}
