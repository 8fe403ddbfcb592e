'use strict';
// Loads the native kernels, or says why they are not there (never throws).
const { existsSync, readFileSync } = require('node:fs');
const { join } = require('node:path');

let cached = null;

function load() {
  if (cached) return cached;
  const file = join(__dirname, 'build', 'Release', 'fedct_native.node');
  if (!existsSync(file)) {
    const skipped = join(__dirname, 'build', 'skipped.txt');
    const reason = existsSync(skipped) ? readFileSync(skipped, 'utf8').trim() : 'not built (run npm rebuild @fedct/native)';
    cached = { addon: null, reason };
    return cached;
  }
  // libgomp reads its settings once, when it loads: idle OpenMP threads sleep instead of spinning,
  // which matters when several fedct processes share the cores (the demo's three sites).
  process.env.OMP_WAIT_POLICY ??= 'PASSIVE';
  try {
    cached = { addon: require(file), reason: null };
  } catch (error) {
    cached = { addon: null, reason: `could not load: ${String(error && error.message).split('\n')[0]}` };
  }
  return cached;
}

module.exports = { load };
