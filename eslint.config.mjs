import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Import rules per package: which other packages (and paths into them) it may not import. */
function layering() {
  const rule = (patterns) => ({ 'no-restricted-imports': ['error', { patterns }] });
  const noApps = { group: ['@fedct/coordinator', '@fedct/coordinator/*', '@fedct/site-agent', '@fedct/site-agent/*', '**/apps/*/src/**'], message: 'libraries never import an app (docs/ARCHITECTURE.md, "Layering")' };
  return [
    { files: ['libs/**/*.ts'], rules: rule([noApps]) },
    {
      files: ['apps/coordinator/**/*.ts'],
      rules: rule([
        { group: ['@fedct/site-agent', '@fedct/site-agent/*', '**/apps/site-agent/**'], message: 'apps never import each other (docs/ARCHITECTURE.md, "Layering")' },
        { group: ['@fedct/pipeline', '@fedct/pipeline/*', '@fedct/native', '@tensorflow/*', '**/libs/pipeline/**'], message: 'the coordinator never imports the compute pipeline: it averages flat weight vectors (docs/ARCHITECTURE.md, "Layering")' },
      ]),
    },
    { files: ['apps/site-agent/**/*.ts'], rules: rule([{ group: ['@fedct/coordinator', '@fedct/coordinator/*', '**/apps/coordinator/**'], message: 'apps never import each other (docs/ARCHITECTURE.md, "Layering")' }]) },
  ];
}

export default tseslint.config(
  { ignores: ['**/node_modules/**', '**/dist/**', 'demo-output/**', 'test-output/**', 'bench-output/**', '**/*.min.js', '**/vendor/**', '.tmp/**', '**/*.tmp.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/ban-ts-comment': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-throw-literal': 'error',
    },
  },
  // The layering (docs/ARCHITECTURE.md): scripts → apps → libs. Apps never import each other, libs
  // never import apps, and the coordinator never loads the compute pipeline (or tfjs).
  ...layering(),
  {
    files: ['**/*.js', '**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { require: 'readonly', module: 'writable', process: 'readonly', __dirname: 'readonly', console: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // Browser pages (no build step): ES modules with browser globals.
    files: ['apps/coordinator/public/**/*.js', 'apps/site-agent/src/ui/public/**/*.js'],
    languageOptions: {
      sourceType: 'module',
      globals: Object.fromEntries(
        ['window', 'document', 'fetch', 'URL', 'URLSearchParams', 'Blob', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'sessionStorage', 'location', 'navigator', 'console', 'requestAnimationFrame', 'AbortController', 'HTMLElement', 'Event', 'KeyboardEvent'].map((name) => [name, 'readonly']),
      ),
    },
  },
);
