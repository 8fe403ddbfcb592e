#!/usr/bin/env node
'use strict';
// The package's command: TypeScript sources run through tsx, so `npm ci` is the only install step.
const path = require('node:path');
process.env.TSX_TSCONFIG_PATH ??= path.join(__dirname, '..', 'tsconfig.json');
require('tsx/cjs');
require('../src/main.ts');
