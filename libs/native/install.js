#!/usr/bin/env node
'use strict';
// Builds the optional native kernels with node-gyp. Never fails the install: without oneDNN's headers
// (Debian/Ubuntu: libdnnl-dev), a compiler, or with FEDCT_NATIVE=0, it writes why to
// build/skipped.txt and exits 0; fedct then uses the wasm kernels and `fedct-site info` says why.
const { spawnSync } = require('node:child_process');
const { existsSync, mkdirSync, rmSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');

const root = __dirname;
const build = join(root, 'build');
const skippedFile = join(build, 'skipped.txt');

function skip(reason) {
  mkdirSync(build, { recursive: true });
  writeFileSync(skippedFile, `${reason}\n`);
  process.stdout.write(`@fedct/native: skipped (${reason}); fedct will use its wasm kernels\n`);
  process.exit(0);
}

if (process.env.FEDCT_NATIVE === '0') skip('FEDCT_NATIVE=0');
const header = ['/usr/include/oneapi/dnnl/dnnl.hpp', '/usr/local/include/oneapi/dnnl/dnnl.hpp'].find((f) => existsSync(f));
if (!header) skip('oneDNN headers not found (install libdnnl-dev)');
// npm gives lifecycle scripts the path of its own node-gyp; outside npm, the one on PATH.
const gyp = process.env.npm_config_node_gyp;
const command = gyp ? process.execPath : 'node-gyp';
const args = gyp ? [gyp, 'rebuild'] : ['rebuild'];
rmSync(skippedFile, { force: true });
const result = spawnSync(command, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
if (result.error || result.status !== 0) {
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim().split('\n');
  const line = output.find((l) => /error/i.test(l)) ?? output[output.length - 1] ?? String(result.error);
  skip(`node-gyp failed: ${line.slice(0, 300)}`);
}
process.stdout.write('@fedct/native: built build/Release/fedct_native.node\n');
