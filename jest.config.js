// One jest run, three projects: unit (pure, in-memory), int (real nats-server / janus),
// e2e (browser + whole stack). `npm test` runs all three.
const base = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.jest.json' }] },
  moduleNameMapper: {
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
    { ...base, displayName: 'unit', testMatch: ['<rootDir>/**/*.unit.spec.ts'] },
    { ...base, displayName: 'int', testMatch: ['<rootDir>/**/*.int.spec.ts'] },
    { ...base, displayName: 'e2e', testMatch: ['<rootDir>/**/*.e2e.spec.ts'] },
  ],
};
