/** Tests run against real services; `scripts/test.sh` starts them (see README). */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.[tj]s$': ['ts-jest', { tsconfig: { allowJs: true, isolatedModules: true }, diagnostics: false }],
  },
  // execa 9 and its dependencies ship ES modules only; compile them to CommonJS for jest.
  transformIgnorePatterns: [
    '/node_modules/(?!(execa|@sindresorhus|figures|get-stream|human-signals|is-plain-obj|is-stream|is-unicode-supported|npm-run-path|parse-ms|path-key|pretty-ms|strip-final-newline|unicorn-magic|yoctocolors|@sec-ant)/)',
  ],
  // unicorn-magic (an execa dependency) exports under the "import" condition alone.
  moduleNameMapper: { '^unicorn-magic$': '<rootDir>/node_modules/unicorn-magic/node.js' },
  globalSetup: '<rootDir>/test/global-setup.ts',
  testSequencer: '<rootDir>/test/sequencer.js',
  testTimeout: 600_000,
};
