// One jest run, three projects: unit (pure, in-memory), int (real nats-server / janus),
// e2e (browser + whole stack). `npm test` runs all three.
//
// jest runs under the pinned Node 24 that scripts/jest.sh puts on PATH (`npm run jest -- <paths>`,
// `npm run test:unit`): a bare `npx jest` under an older machine node, or node_modules installed for another
// Node (native addons are built per ABI), stops here with what to run instead.
const { readFileSync } = require('node:fs');

if (Number(process.versions.node.split('.')[0]) < 24) {
  throw new Error(
    `jest is running under Node ${process.version}; Haven needs Node 24: ` +
      'run `npm run jest -- <paths>` (or `npm test`), which uses the Node pinned in scripts/use-node.sh',
  );
}
// scripts/setup.sh records the ABI it installed for ("<lock hash> node-abi-<n>"); an older set-up recorded the
// lock hash alone, on Node 20. No record: installed by hand, nothing to compare.
let installed;
try {
  installed = readFileSync(`${__dirname}/node_modules/.haven-lock-hash`, 'utf8');
} catch {
  installed = undefined;
}
const installedAbi =
  installed === undefined ? undefined : (/node-abi-(\d+)/.exec(installed)?.[1] ?? 'of Node 20');
if (installedAbi !== undefined && installedAbi !== process.versions.modules) {
  throw new Error(
    `node_modules was installed for another Node (ABI ${installedAbi}, this is ${process.version}): ` +
      'run `npm run setup` first',
  );
}

const base = {
  testEnvironment: 'node',
  transform: {
    // One ts-jest configuration for every file, the browser app's component specs (TSX) included: ts-jest keeps
    // one configuration per worker whatever the transform entry, so a second entry's settings were applied or
    // not depending on which file a worker met first. Specs are transpiled only (isolatedModules): type checking
    // is tsc's job (npm run typecheck, web/tsconfig.json for the browser app).
    '^.+\\.tsx?$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.jest.json' }],
  },
  moduleNameMapper: {
    '\\.css$': '<rootDir>/web/src/testing/style-stub.cjs',
    '^@haven/([a-z-]+)/testing$': '<rootDir>/packages/$1/src/testing.ts',
    '^@haven/(errors|auth|proto|crypto|telemetry|eventstore|bus|service|testing)$':
      '<rootDir>/packages/$1/src/index.ts',
  },
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
  modulePathIgnorePatterns: ['<rootDir>/.haven/', '/dist/'],
};
module.exports = {
  reporters: ['default', '<rootDir>/tests/support/summary-reporter.js'],
  maxWorkers: process.env.CI ? 2 : '50%',
  // Per-project testTimeout is not applied by jest 30; one generous default for real-server tests.
  testTimeout: 60000,
  projects: [
    {
      ...base,
      displayName: 'unit',
      testMatch: ['<rootDir>/**/*.unit.spec.ts', '<rootDir>/web/src/**/*.unit.spec.tsx'],
    },
    { ...base, displayName: 'int', testMatch: ['<rootDir>/**/*.int.spec.ts'] },
    { ...base, displayName: 'e2e', testMatch: ['<rootDir>/**/*.e2e.spec.ts'] },
  ],
};
