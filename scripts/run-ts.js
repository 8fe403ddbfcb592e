#!/usr/bin/env node
'use strict';
// Runs a TypeScript entry point through tsx: `node scripts/run-ts.js FILE.ts [args...]`.
const path = require('node:path');
process.env.TSX_TSCONFIG_PATH ??= path.join(__dirname, '..', 'tsconfig.base.json');
require('tsx/cjs');
const target = process.argv[2];
if (!target) {
  process.stderr.write('usage: node scripts/run-ts.js FILE.ts [args...]\n');
  process.exit(2);
}
process.argv.splice(1, 1);
process.argv[1] = path.resolve(target);
require(process.argv[1]);
