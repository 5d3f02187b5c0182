/** Resource names and ids of the scheduling API. */
import { ValidationError } from '@haven/errors';

/** Ids we mint or accept for patients and appointments. */
export const RESOURCE_ID = /^[a-z0-9-]{4,63}$/;

/** `users/{id}` → id, or undefined when the name is not of that form. */
export function idFromName(name: string, collection: string): string | undefined {
  const prefix = `${collection}/`;
  return name.startsWith(prefix) && name.length > prefix.length ? name.slice(prefix.length) : undefined;
}

/** `appointments/{id}` → id. Throws ValidationError (on `field`) when malformed. */
export function requireResourceId(name: string, collection: string, field = 'name'): string {
  const id = idFromName(name, collection);
  if (!id || !RESOURCE_ID.test(id)) {
    throw new ValidationError([{ field, description: `must be ${collection}/{id} with id [a-z0-9-]{4,63}` }]);
  }
  return id;
}
