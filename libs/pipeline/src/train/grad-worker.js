'use strict';
// Worker threads cannot load TypeScript by themselves: register tsx, then run the worker.
require('tsx/cjs');
require('./grad-worker.ts');
