/**
 * Choosing the KMS adapter from the environment (HAVEN_KMS and the adapter's variables), for the command-line
 * tools and the services that accept more than the local keyring.
 */
import { ValidationError } from '@haven/errors';
import type { Kms } from './kms';
import { LocalKeyringKms } from './local-keyring-kms';
import { Pkcs11Kms } from './pkcs11-kms';
import { VaultTransitKms } from './vault-transit-kms';

/** Values of HAVEN_KMS. */
export const KMS_ADAPTERS = ['local', 'pkcs11', 'vault-transit'] as const;
/** One of {@link KMS_ADAPTERS}. */
export type KmsAdapter = (typeof KMS_ADAPTERS)[number];

/** The environment variables each adapter reads (required ones first). */
export const KMS_VARIABLES = {
  local: { required: ['HAVEN_KEYRING_FILE'], optional: [] },
  pkcs11: {
    required: ['HAVEN_PKCS11_MODULE', 'HAVEN_PKCS11_TOKEN_LABEL', 'HAVEN_PKCS11_PIN_FILE'],
    optional: ['HAVEN_PKCS11_KEY_PREFIX'],
  },
  'vault-transit': {
    required: ['HAVEN_VAULT_ADDR', 'HAVEN_VAULT_TOKEN_FILE', 'HAVEN_VAULT_TRANSIT_KEY'],
    optional: ['HAVEN_VAULT_TRANSIT_MOUNT', 'HAVEN_VAULT_NAMESPACE', 'HAVEN_VAULT_CA_FILE'],
  },
} as const satisfies Record<KmsAdapter, { required: readonly string[]; optional: readonly string[] }>;

/** A KMS opened by {@link openKmsFromEnv}, with a `close` (a no-op for adapters that hold nothing open). */
export type ClosableKms = Kms & { close(): Promise<void> };

/**
 * Opens the KMS that HAVEN_KMS names (default `local`) with its variables ({@link KMS_VARIABLES}).
 * `create` creates a first KEK (local keyring, PKCS#11) or the Transit key when there is none.
 * Throws ValidationError naming the variable when HAVEN_KMS is unknown or a required variable is missing;
 * otherwise whatever the adapter's `open` throws.
 */
export async function openKmsFromEnv(
  env: Readonly<Record<string, string | undefined>>,
  options: { readonly create?: boolean } = {},
): Promise<ClosableKms> {
  const adapter = (env['HAVEN_KMS'] ?? 'local') as KmsAdapter;
  if (!KMS_ADAPTERS.includes(adapter)) {
    throw new ValidationError([
      { field: 'HAVEN_KMS', description: `must be one of ${KMS_ADAPTERS.join(', ')}` },
    ]);
  }
  const missing = KMS_VARIABLES[adapter].required.filter((name) => (env[name] ?? '') === '');
  if (missing.length > 0) {
    throw new ValidationError(
      missing.map((name) => ({ field: name, description: `required when HAVEN_KMS=${adapter}` })),
    );
  }
  const get = (name: string): string => env[name]!;
  const optional = (name: string): string | undefined => (env[name] === '' ? undefined : env[name]);
  const create = options.create ?? false;
  switch (adapter) {
    case 'local': {
      const kms = await LocalKeyringKms.open({ file: get('HAVEN_KEYRING_FILE'), create });
      return Object.assign(kms, { close: async () => undefined });
    }
    case 'pkcs11': {
      const prefix = optional('HAVEN_PKCS11_KEY_PREFIX');
      return Pkcs11Kms.open({
        module: get('HAVEN_PKCS11_MODULE'),
        tokenLabel: get('HAVEN_PKCS11_TOKEN_LABEL'),
        pinFile: get('HAVEN_PKCS11_PIN_FILE'),
        create,
        ...(prefix === undefined ? {} : { keyPrefix: prefix }),
      });
    }
    case 'vault-transit': {
      const mount = optional('HAVEN_VAULT_TRANSIT_MOUNT');
      const namespace = optional('HAVEN_VAULT_NAMESPACE');
      const caFile = optional('HAVEN_VAULT_CA_FILE');
      const kms = await VaultTransitKms.open({
        address: get('HAVEN_VAULT_ADDR'),
        tokenFile: get('HAVEN_VAULT_TOKEN_FILE'),
        keyName: get('HAVEN_VAULT_TRANSIT_KEY'),
        create,
        ...(mount === undefined ? {} : { mount }),
        ...(namespace === undefined ? {} : { namespace }),
        ...(caFile === undefined ? {} : { caFile }),
      });
      return Object.assign(kms, { close: async () => undefined });
    }
  }
}
