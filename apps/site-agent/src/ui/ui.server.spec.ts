import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DicomError } from '@fedct/pipeline';
import { overlayRange, resampleVolume, startUiServer, type UiServer } from './ui.server';
import type { ViewerPrediction } from './ui.types';

const dir = mkdtempSync(join(tmpdir(), 'fedct-ui-'));
const unreadable = join(dir, 'broken');
const shape: [number, number, number] = [4, 2, 2];

function fakePrediction(): ViewerPrediction {
  return {
    prediction: 'cap',
    probabilities: { control: 0.2, cap: 0.5, 'covid-19': 0.3 },
    model: { version: 'v2', sha256: 'c'.repeat(64) },
    timingMs: { total: 5 },
    volume: { data: Float32Array.from({ length: 16 }, (_, i) => i / 16), shape, spacingMm: [2, 1, 1] },
    infection: { data: Float32Array.from({ length: 8 }, (_, i) => (i % 2 ? 0.3 : -0.1)), shape: [2, 2, 2], spacingMm: [4, 1, 1] },
    warnings: [],
  };
}

function call(server: UiServer, method: string, path: string, options: { body?: string; host?: string; type?: string } = {}): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: server.port, method, path, headers: { host: options.host ?? `127.0.0.1:${server.port}`, 'content-type': options.type ?? 'application/json' } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

let server: UiServer;
beforeAll(async () => {
  server = await startUiServer({
    predictor: {
      predict: async ({ path }) => {
        if (path === unreadable) throw new DicomError('no DICOM slices found', 'empty');
        return fakePrediction();
      },
    },
    listStudies: () => [{ id: 's1', label: 'cap', split: 'test', slices: 4, sourcePath: dir, importedAt: '2026-01-01T00:00:00Z' }],
    info: () => ({ siteName: 'alpha', model: null }),
  });
});
afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

describe(resampleVolume.name, () => {
  it('interpolates linearly between slice centres and keeps the physical extent', () => {
    const out = resampleVolume({ data: Float32Array.from([0, 10]), shape: [2, 1, 1], spacingMm: [4, 1, 1] }, [4, 1, 1]);
    // Centres of 4 output slices in input slice units: -0.25, 0.25, 0.75, 1.25 (clamped to [0, 1]).
    expect(Array.from(out.data)).toEqual([0, 2.5, 7.5, 10]);
    expect(out.spacingMm[0]).toBe(2);
  });

  it('upsamples in-plane as the bilinear blend of the four neighbours', () => {
    // 2 × 2 plane [[0, 1], [2, 3]] to 4 × 4: sample centres at -0.25, 0.25, 0.75, 1.25 per axis.
    const out = resampleVolume({ data: Float32Array.from([0, 1, 2, 3]), shape: [1, 2, 2], spacingMm: [1, 2, 2] }, [1, 4, 4]);
    const expected = [0, 0.25, 0.75, 1, 0.5, 0.75, 1.25, 1.5, 1.5, 1.75, 2.25, 2.5, 2, 2.25, 2.75, 3];
    expect(Array.from(out.data)).toEqual(expected);
    expect(out.spacingMm).toEqual([1, 1, 1]);
  });
});

describe(overlayRange.name, () => {
  it('uses the positive values only and sets the threshold at a quarter of the high end', () => {
    const values = Float32Array.from({ length: 1000 }, (_, i) => (i < 500 ? -1 : (i - 500) / 500));
    // 499 positive values 1/500..499/500; the 99.5th percentile is index 496 → 497/500.
    const range = overlayRange(values);
    expect(range.max).toBeCloseTo(0.994, 6);
    expect(range.min).toBeCloseTo(0.2485, 6);
  });
});

describe(startUiServer.name, () => {
  it('serves the page and the niivue bundle from this machine', async () => {
    const page = await call(server, 'GET', '/');
    expect(page.status).toBe(200);
    expect(page.body.toString()).toContain('/static/viewer.js');
    const niivue = await call(server, 'GET', '/vendor/niivue.js');
    expect(niivue.status).toBe(200);
    expect(niivue.body.toString('utf8', niivue.body.length - 2000)).toMatch(/Niivue/);
  });

  it('refuses a request whose Host header is another name (DNS rebinding)', async () => {
    const res = await call(server, 'GET', '/api/studies', { host: 'evil.example:80' });
    expect(res.status).toBe(403);
  });

  it('predicts, puts the infection map on the volume slices and serves both as NIfTI', async () => {
    const res = await call(server, 'POST', '/api/predict', { body: JSON.stringify({ path: dir }) });
    expect(res.status).toBe(200);
    const result = JSON.parse(res.body.toString()) as { prediction: string; volumeUrl: string; infectionUrl: string; overlay: { min: number; max: number } };
    expect(result.prediction).toBe('cap');
    expect(result.overlay.max).toBeCloseTo(0.3, 5);
    const volume = await call(server, 'GET', result.volumeUrl);
    const infection = await call(server, 'GET', result.infectionUrl);
    expect(volume.body.length).toBe(352 + 16 * 4);
    expect(infection.body.length).toBe(352 + 16 * 4);
  });

  it('answers an unreadable study with a one-line 422', async () => {
    const { mkdirSync } = await import('node:fs');
    mkdirSync(unreadable, { recursive: true });
    const res = await call(server, 'POST', '/api/predict', { body: JSON.stringify({ path: unreadable }) });
    expect(res.status).toBe(422);
    expect(JSON.parse(res.body.toString())).toEqual({ error: { code: 'unreadable', message: 'study unreadable: no DICOM slices found' } });
  });

  it('answers a missing folder with 404 and a relative path with 400', async () => {
    expect((await call(server, 'POST', '/api/predict', { body: JSON.stringify({ path: join(dir, 'nope') }) })).status).toBe(404);
    expect((await call(server, 'POST', '/api/predict', { body: JSON.stringify({ path: 'relative/dir' }) })).status).toBe(400);
  });
});
