// ESLint flat config, type-aware. Pure domain files may not import Node builtins or I/O modules.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import { importX } from 'eslint-plugin-import-x';
import reactHooks from 'eslint-plugin-react-hooks';

const ioModules = [
  'node:*',
  'fs',
  'path',
  'crypto',
  'net',
  'http',
  'nats',
  '@grpc/*',
  '@opentelemetry/*',
  '@haven/eventstore',
  '@haven/bus',
  '@haven/service',
  '@haven/telemetry',
  'janode',
  'pino',
];

// Another workspace is reached by its package name and its exports, never by a path into its files.
const deepImports = [
  {
    group: ['@haven/*/src', '@haven/*/src/**', '@haven/*/dist', '@haven/*/dist/**'],
    message: 'Import the package by name (its index or its ./testing entry), not a path into it.',
  },
];

// An aggregate's state file (events, state, evolve) is as pure as its decide.ts. Found by what it exports, so a
// new slice is covered without editing this list: every non-spec file under a src/ that exports evolve*.
function evolveFiles() {
  const found = [];
  for (const root of ['packages', 'services']) {
    for (const workspace of readdirSync(join(import.meta.dirname, root))) {
      const src = join(root, workspace, 'src');
      if (!existsSync(join(import.meta.dirname, src))) continue;
      for (const file of readdirSync(join(import.meta.dirname, src), { recursive: true, encoding: 'utf8' })) {
        if (!file.endsWith('.ts') || file.endsWith('.spec.ts') || file.startsWith('gen/')) continue;
        const text = readFileSync(join(import.meta.dirname, src, file), 'utf8');
        if (/^export (?:function|const) evolve/m.test(text)) found.push(join(src, file));
      }
    }
  }
  return found;
}

export default tseslint.config(
  {
    ignores: [
      '**/dist/**',
      '**/node_modules/**',
      'packages/proto/src/gen/**',
      '.haven/**',
      '.tools/**',
      'test-artifacts/**',
      'bench-results/**',
      'web/vendor/**',
      'deploy/**/*',
      '!deploy/images/',
      '!deploy/images/*.mjs',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    plugins: { 'import-x': importX },
    settings: {
      'import-x/extensions': ['.ts', '.tsx', '.js', '.mjs', '.cjs'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts', '.tsx'] },
      'import-x/resolver-next': [
        createTypeScriptImportResolver({ project: ['./tsconfig.eslint.json', './web/tsconfig.json'] }),
      ],
    },
    languageOptions: {
      parserOptions: {
        project: ['./tsconfig.eslint.json', './tests/bench/tsconfig.json', './web/tsconfig.json'],
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      'import-x/no-cycle': 'error',
      'import-x/no-relative-packages': 'error',
      'no-restricted-imports': ['error', { patterns: deepImports }],
      'no-console': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/restrict-template-expressions': [
        'error',
        { allowNumber: true, allowBoolean: true, allowNullish: true },
      ],
      'no-restricted-syntax': [
        'error',
        { selector: 'ExportAllDeclaration[exported=null]', message: 'List exports by name (no `export *`).' },
      ],
    },
  },
  {
    // The browser app: React's rules of hooks, the browser's globals, nothing from Node.
    files: ['web/src/**/*.{ts,tsx}'],
    plugins: { 'react-hooks': reactHooks },
    languageOptions: { globals: globals.browser },
    rules: {
      ...reactHooks.configs.recommended.rules,
      'no-restricted-imports': [
        'error',
        {
          patterns: [...deepImports, { group: ['node:*'], message: 'The browser app has no Node builtins.' }],
        },
      ],
    },
  },
  {
    files: ['**/*.spec.ts', '**/*.spec.tsx', 'tests/**/*.ts'],
    rules: { '@typescript-eslint/unbound-method': 'off', 'no-console': 'off' },
  },
  {
    // The chart specs walk Kubernetes manifests parsed from `helm template` output: untyped YAML documents,
    // probed field by field, where a missing field fails the assertion anyway.
    files: ['tests/helm/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  {
    // A function longer than a screen usually hides two (CONVENTIONS.md); tests and test support excepted.
    files: ['packages/*/src/**/*.ts', 'services/*/src/**/*.ts'],
    ignores: ['**/*.spec.ts', '**/testing.ts', '**/testing/**', 'packages/testing/**'],
    rules: { 'max-lines-per-function': ['error', { max: 120, skipBlankLines: true, skipComments: true }] },
  },
  {
    // The dev-only test package starts Janus with the same config generator as the dev stack.
    files: ['packages/testing/src/**/*.ts'],
    rules: { 'import-x/no-relative-packages': ['error', { ignore: ['/scripts/janus-config\\.cjs$'] }] },
  },
  {
    // tests/ and web/ specs belong to the root package: they test the services from outside and may read a
    // service's own helpers (its config schema, its room numbering), but a shared package only by name.
    files: ['tests/**/*.ts', 'web/**/*.{ts,tsx}'],
    rules: {
      'import-x/no-relative-packages': 'off',
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            ...deepImports,
            {
              regex: '^(\\.\\./)+packages/',
              message: 'Import a shared package by name, not a path into it.',
            },
          ],
        },
      ],
    },
  },
  {
    files: [
      '**/domain/**/*.ts',
      '**/decide.ts',
      '**/decider.ts',
      'packages/auth/src/**/*.ts',
      'services/*/src/*/*-events.ts',
      ...evolveFiles(),
    ],
    ignores: ['**/*.spec.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            ...deepImports,
            { group: ioModules, allowTypeImports: true, message: 'Pure domain code does no I/O.' },
          ],
        },
      ],
    },
  },
  {
    // Plain JavaScript (scripts, configs, test pages): the recommended rules without type information.
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { ...tseslint.configs.disableTypeChecked.languageOptions, globals: globals.node },
    rules: {
      ...tseslint.configs.disableTypeChecked.rules,
      'no-console': 'off',
      '@typescript-eslint/no-require-imports': 'off',
    },
  },
  {
    // Pages evaluated in Chromium by the media and security suites.
    files: ['tests/support/media/*.js', 'tests/security/support/*.js'],
    languageOptions: { globals: globals.browser },
  },
);
