/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // @middy/*, hyparquet and hyparquet-writer are ESM-only: transform them (and TypeScript) to CommonJS with swc.
  transform: {
    '^.+\\.(t|j|mj)s$': [
      '@swc/jest',
      { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'commonjs' } },
    ],
  },
  transformIgnorePatterns: ['/node_modules/(?!(@middy|hyparquet|hyparquet-writer)/)'],
  setupFilesAfterEnv: ['<rootDir>/test/setup.ts'],
  // One cache of synthesized state machine definitions for every suite and worker (local/asl.ts).
  globalSetup: '<rootDir>/test/global-setup.ts',
  testTimeout: 120000,
};
