import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generatePhantomStudy, writePhantomDicom } from '@fedct/pipeline';
import { importStudies } from '../data/import.service';
import { initSiteFolder } from '../site/site-folder';
import { silentLogger } from '../util/logger';

const BIN = resolve(__dirname, '..', '..', 'bin', 'fedct-site.js');
const root = mkdtempSync(join(tmpdir(), 'fedct-ui-cli-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('fedct-site ui', () => {
  it('prints its local address, serves the site and its imported studies, and stops on SIGTERM', async () => {
    const siteDir = join(root, 'site');
    const studyDir = join(root, 'cap-study');
    await writePhantomDicom(generatePhantomStudy({ cls: 'cap', seed: 3, scanner: 'tiny' }), studyDir);
    const site = initSiteFolder(siteDir, { name: 'st-mary' });
    await importStudies(site, studyDir, { label: 'cap', split: 'test', logger: silentLogger });
    const imported = site.index.list();
    site.close();
    const child = spawn(process.execPath, [BIN, 'ui', '--port', '0', '--site', siteDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const url = await new Promise<string>((resolveUrl, reject) => {
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const match = /open (http:\/\/127\.0\.0\.1:\d+\/) in a browser/.exec(out);
        if (match?.[1]) resolveUrl(match[1]);
      });
      child.once('exit', (code) => reject(new Error(`fedct-site ui exited with ${code}: ${stderr}`)));
    });

    const info = (await (await fetch(`${url}api/info`)).json()) as { siteName: string; model: unknown };
    const studies = (await (await fetch(`${url}api/studies`)).json()) as { studies: { id: string; label: string; split: string; slices: number; sourcePath: string }[] };
    const predict = await fetch(`${url}api/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ path: root }) });
    const exited = new Promise<number | null>((resolveExit) => child.once('exit', (code) => resolveExit(code)));
    child.kill('SIGTERM');

    expect(info).toEqual({ siteName: 'st-mary', model: null });
    expect(imported).toHaveLength(1);
    expect(studies.studies).toEqual([
      { id: imported[0]?.seriesInstanceUid, label: 'cap', split: 'test', slices: imported[0]?.shape[0], sourcePath: imported[0]?.sourcePath, importedAt: imported[0]?.importedAt },
    ]);
    expect(studies.studies[0]?.sourcePath).toBe(studyDir);
    expect(predict.status).toBe(422);
    expect(((await predict.json()) as { error: { message: string } }).error.message).toMatch(/^no global denoiser model yet: start fedct-site ui with --denoiser FILE/);
    expect(await exited).toBe(0);
  });
});
