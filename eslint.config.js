/**
 * Lint rules that guard correctness, not style: workflow code must stay deterministic (no Node
 * built-ins, no I/O modules: the Temporal bundler would reject them at worker start, this says it
 * at review time), and no promise may float (a lost rejection is a lost failure).
 */
const tseslint = require('typescript-eslint');
const { builtinModules } = require('node:module');

module.exports = tseslint.config(
  { ignores: ['node_modules/**', '.venv/**', 'state/**', 'data/**', '**/*.js'] },
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.base],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: __dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: builtinModules.flatMap((name) => [name, `node:${name}`]).map((name) => ({
            name,
            message: 'workflow code must be deterministic: do I/O in an activity',
          })),
          patterns: [
            { group: ['../activities', '../activities/*'], allowTypeImports: true, message: 'workflows import activity types only' },
            { group: ['execa', '@duckdb/*', '../lib/mlflow', '../lib/artifacts'], message: 'I/O belongs in activities' },
          ],
        },
      ],
    },
  },
);
