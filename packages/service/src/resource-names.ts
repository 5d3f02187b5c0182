import { ValidationError } from '@haven/errors';

/** An id inside a resource name: what the services issue and the store's stream names accept. */
export const RESOURCE_ID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * The id of the resource name `<collection>/{id}` (`visits/v-1` → `v-1`). Throws ValidationError naming `field`
 * ("must be <collection>/{id}") when `name` is not one, or its id is not a {@link RESOURCE_ID}.
 */
export function idOfName(name: string, field: string, collection: string): string {
  const m = new RegExp(`^${collection}/([^/]+)$`).exec(name);
  if (!m?.[1] || !RESOURCE_ID.test(m[1])) {
    throw new ValidationError([{ field, description: `must be ${collection}/{id}` }]);
  }
  return m[1];
}
