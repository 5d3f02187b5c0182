/**
 * Staff single sign-on: the clinics' OpenID Connect identity providers, read once from the JSON file named by
 * HAVEN_SSO_CONFIG_FILE. Identity reads it to decide who a verified ID token names and which role the IdP's groups
 * map to; the gateway reads it to run the authorization code flow (its client secret comes from a file of its
 * own, never from this one, which may live in a ConfigMap).
 *
 *   { "providers": [ { "id": "northside", "displayName": "Northside Health", "issuer": "https://idp.example",
 *       "clientId": "haven", "clientSecretFile": "/run/secrets/northside-oidc", "groupsClaim": "groups",
 *       "roles": [ { "group": "haven-admins", "role": "admin" }, { "group": "clinicians", "role": "clinician" } ] } ] }
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ROLES, type Role } from '@haven/auth';
import { ConfigError } from './config';

/** True for an http URL on a loopback host (a local test or dev IdP). */
function loopbackHttp(url: URL): boolean {
  return url.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
}

const issuerUrl = z
  .string()
  .url()
  .refine((s) => {
    const url = new URL(s);
    return (url.protocol === 'https:' || loopbackHttp(url)) && url.search === '' && url.hash === '';
  }, 'must be an https URL without query or fragment (http only on a loopback host)');

const providerSchema = z
  .object({
    /** Short id in URLs and events (`identityProviders/{id}`). */
    id: z.string().regex(/^[a-z0-9][a-z0-9-]{1,30}$/, 'must match [a-z0-9][a-z0-9-]{1,30}'),
    /** What the sign-in button says: "Sign in with {displayName}". */
    displayName: z.string().min(1).max(80),
    /** The IdP's issuer identifier, exactly as its discovery document and ID tokens say it. */
    issuer: issuerUrl,
    /** Haven's client id at this IdP (the ID token's audience). */
    clientId: z.string().min(1).max(255),
    /** A file holding the client secret (the gateway reads it; identity never does). */
    clientSecretFile: z.string().min(1).optional(),
    /** The ID token claim listing the user's groups (a string array, or one string). Default `groups`. */
    groupsClaim: z.string().min(1).max(100).default('groups'),
    /** Extra scopes beyond `openid email profile` (e.g. `groups` for IdPs that need it). */
    scopes: z.array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/)).default([]),
    /** Group → Haven role, first match wins; a user in none of these groups is refused. */
    roles: z.array(z.object({ group: z.string().min(1).max(256), role: z.enum(ROLES) }).strict()).min(1),
  })
  .strict();

const ssoConfigSchema = z
  .object({ providers: z.array(providerSchema).max(50) })
  .strict()
  .refine((c) => new Set(c.providers.map((p) => p.id)).size === c.providers.length, {
    message: 'provider ids must be unique',
    path: ['providers'],
  });

/** One clinic's OpenID provider. */
export interface SsoProvider {
  readonly id: string;
  readonly displayName: string;
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecretFile?: string | undefined;
  readonly groupsClaim: string;
  readonly scopes: readonly string[];
  readonly roles: readonly { readonly group: string; readonly role: Role }[];
}

/** The parsed SSO configuration. */
export interface SsoConfig {
  readonly providers: readonly SsoProvider[];
}

/** No identity provider: local accounts only. */
export const NO_SSO: SsoConfig = Object.freeze({ providers: [] });

/**
 * Parses an SSO configuration object. Throws ConfigError naming each bad field (`HAVEN_SSO_CONFIG_FILE: providers.0.issuer …`).
 */
export function parseSsoConfig(value: unknown): SsoConfig {
  const parsed = ssoConfigSchema.safeParse(value);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => ({
        variable: 'HAVEN_SSO_CONFIG_FILE',
        problem: `${i.path.join('.') || '(root)'}: ${i.message}`,
      })),
    );
  }
  return Object.freeze(parsed.data);
}

/**
 * Reads the SSO configuration from `file` (JSON); {@link NO_SSO} without a file. Throws ConfigError when the file
 * cannot be read, is not JSON, or breaks the schema.
 */
export function loadSsoConfig(file: string | undefined): SsoConfig {
  if (file === undefined || file === '') return NO_SSO;
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ConfigError([
      { variable: 'HAVEN_SSO_CONFIG_FILE', problem: `cannot read JSON: ${(error as Error).message}` },
    ]);
  }
  return parseSsoConfig(value);
}

/** The provider called `id`, or undefined. */
export function ssoProvider(config: SsoConfig, id: string): SsoProvider | undefined {
  return config.providers.find((p) => p.id === id);
}
