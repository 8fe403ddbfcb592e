/*
 * The layering is enforced by the lint config (eslint.config.mjs, `no-restricted-imports` per
 * package): a forbidden import in a file of each package fails lint, an allowed one passes.
 */
import { resolve } from 'node:path';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '..');

async function problems(file: string, code: string): Promise<string[]> {
  const eslint = new ESLint({ cwd: ROOT });
  const [result] = await eslint.lintText(code, { filePath: resolve(ROOT, file) });
  return (result?.messages ?? []).filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

describe('lint: the layering of the packages', () => {
  it.each([
    ['apps/coordinator/src/x.ts', "import { initBackend } from '@fedct/pipeline';\nexport const x = initBackend;\n", /never imports the compute pipeline/],
    ['apps/coordinator/src/x.ts', "import * as tf from '@tensorflow/tfjs-core';\nexport const x = tf;\n", /never imports the compute pipeline/],
    ['apps/coordinator/src/x.ts', "import { SiteDaemon } from '@fedct/site-agent';\nexport const x = SiteDaemon;\n", /apps never import each other/],
    ['apps/site-agent/src/x.ts', "import { startCoordinator } from '@fedct/coordinator';\nexport const x = startCoordinator;\n", /apps never import each other/],
    ['libs/pipeline/src/x.ts', "import { SiteFolder } from '@fedct/site-agent';\nexport const x = SiteFolder;\n", /libraries never import an app/],
    ['libs/crypto/src/x.ts', "import { x as y } from '../../../apps/coordinator/src/app';\nexport const x = y;\n", /libraries never import an app/],
  ])('refuses in %s: %s', async (file, code, message) => {
    const found = await problems(file, code);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(message);
  });

  it('allows what the layering allows', async () => {
    expect(await problems('apps/coordinator/src/x.ts', "import { wilsonInterval } from '@fedct/protocol';\nimport { WeightedSum } from '@fedct/strategies';\nexport const x = [wilsonInterval, WeightedSum];\n")).toEqual([]);
    expect(await problems('apps/site-agent/src/x.ts', "import { initBackend } from '@fedct/pipeline';\nexport const x = initBackend;\n")).toEqual([]);
  });
});
