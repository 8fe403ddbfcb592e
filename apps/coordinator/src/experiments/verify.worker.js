'use strict';
// Worker-thread entry: TypeScript through tsx, like the CLI shims.
require('tsx/cjs');
require('./verify.worker.ts');
