/** The id of a user or a service account in a resource name (`users/{id}`, `serviceAccounts/{id}`). */
export const RESOURCE_ID = /^[a-z0-9][a-z0-9-]{3,62}$/;
