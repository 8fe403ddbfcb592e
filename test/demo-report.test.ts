import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { parsePrometheus } from '../scripts/demo/admin-client';
import { renderReportHtml } from '../scripts/demo/report/html';
import { computeTestMetrics, rocAuc, rocCurve } from '../scripts/demo/report/metrics';
import { sliceWithInfectionPng } from '../scripts/demo/report/png';
import type { DemoReport, TestMetrics } from '../scripts/demo/report/report.types';

/** Mulberry32: a tiny seeded generator for test data. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** P(score of a positive > score of a negative), ties ½: the definition of ROC AUC. */
function pairwiseAuc(score: number[], positive: boolean[]): number {
  let wins = 0;
  let pairs = 0;
  score.forEach((sp, i) => {
    if (!positive[i]) return;
    score.forEach((sn, j) => {
      if (positive[j]) return;
      pairs++;
      wins += sp > sn ? 1 : sp === sn ? 0.5 : 0;
    });
  });
  return wins / pairs;
}

describe(computeTestMetrics.name, () => {
  it('matches a hand-computed six-study case', () => {
    // truth:      control, control, covid, covid, cap, cap
    // predicted:  control, covid,   covid, cap,   cap, cap
    const probabilities = [
      [0.8, 0.1, 0.1],
      [0.3, 0.6, 0.1],
      [0.1, 0.7, 0.2],
      [0.1, 0.3, 0.6],
      [0.2, 0.2, 0.6],
      [0.1, 0.1, 0.8],
    ];
    const m = computeTestMetrics(probabilities, [0, 0, 1, 1, 2, 2]);
    expect(m.confusion).toEqual([
      [1, 1, 0],
      [0, 1, 1],
      [0, 0, 2],
    ]);
    expect(m.accuracy).toBeCloseTo(4 / 6, 12);
    // covid vs rest: TP 1, FN 1, FP 1, TN 3
    expect(m.accuracyCovidVsRest).toBeCloseTo(4 / 6, 12);
    expect(m.sensitivity).toBeCloseTo(0.5, 12);
    expect(m.specificity).toBeCloseTo(0.75, 12);
    expect(m.perClass.cap.precision).toBeCloseTo(2 / 3, 12);
    expect(m.perClass.cap.recall).toBe(1);
    expect(m.perClass.cap.f1).toBeCloseTo(0.8, 12);
    // covid scores: positives 0.7, 0.3; negatives 0.1, 0.6, 0.2, 0.1 → wins 4 + 3 = 7 of 8
    expect(m.auc).toBeCloseTo(7 / 8, 12);
    expect(m.n).toBe(6);
  });

  it('gives the pairwise-count AUC on random scores with ties', () => {
    const random = rng(7);
    const score = Array.from({ length: 200 }, () => Math.round(random() * 20) / 20);
    const positive = score.map((s) => random() < 0.3 + 0.4 * s);
    expect(rocAuc(rocCurve(score, positive))).toBeCloseTo(pairwiseAuc(score, positive), 12);
  });

  it('refuses labels that do not match the predictions', () => {
    expect(() => computeTestMetrics([[1, 0, 0]], [0, 1])).toThrow(RangeError);
  });
});

function metrics(accuracy: number): TestMetrics {
  const m = computeTestMetrics(
    [
      [0.9, 0.05, 0.05],
      [0.1, 0.8, 0.1],
      [0.2, 0.1, 0.7],
    ],
    [0, 1, 2],
  );
  return { ...m, accuracy };
}

function sampleReport(): DemoReport {
  const counts = { control: 2, 'covid-19': 3, cap: 1 };
  return {
    profile: 'tiny',
    createdAt: '2026-01-01T00:00:00.000Z',
    seed: 1,
    backend: 'wasm',
    inputShape: [8, 32, 32],
    sites: [{ name: 'hospital-a', scanner: 'siemens', siteId: 's1', counts: { train: counts, val: counts } }],
    external: { name: 'external <hospital>', scanner: 'ge', counts },
    rounds: [
      { phase: 'denoiser', experiment: 'e1', index: 1, participants: ['hospital-a'], loss: 0.5, metrics: { mse: 0.1 }, modelVersion: 'v1', state: 'published' },
      { phase: 'classifier', experiment: 'e2', index: 1, participants: ['hospital-a'], loss: 1.1, metrics: { accuracy: 0.4 }, modelVersion: 'v2', state: 'published' },
      { phase: 'classifier', experiment: 'e2', index: 2, participants: ['hospital-a'], loss: 0.7, metrics: { accuracy: 0.8 }, modelVersion: 'v3', state: 'published' },
    ],
    federated: {
      denoiser: { version: 'v1', sha256: 'a'.repeat(64) },
      classifier: { version: 'v3', sha256: 'b'.repeat(64) },
      publishedModels: [{ version: 'v1', sha256: 'a'.repeat(64) }],
      secureAggregation: true,
      test: metrics(0.9),
      calibration: null,
      testModelStatistics: null,
    },
    evaluation: [],
    singleSite: [{ name: 'hospital-a', epochs: 3, trainStudies: 6, trainMs: 100, test: metrics(0.6) }],
    centralized: { name: 'pooled', epochs: 3, trainStudies: 18, trainMs: 300, test: metrics(0.95) },
    bytes: { toSites: 123456, fromSites: 654321, modelBlob: { denoiser: 1000, classifier: 2000 } },
    timingsMs: { total: 1234 },
    faults: [],
  };
}

describe(renderReportHtml.name, () => {
  it('renders a self-contained page with the paper table, our numbers, the plots and the images', () => {
    const html = renderReportHtml(sampleReport(), [{ title: 'covid-19 sample', dataUri: 'data:image/png;base64,AAAA' }]);
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/(src|href)="https?:/i);
    expect(html.replace(/xmlns="http:\/\/www\.w3\.org\/2000\/svg"/g, '')).not.toMatch(/https?:\/\//);
    expect(html).toContain('paper (real patients)');
    expect(html).toContain('86.7 %');
    expect(html).toContain('ours (synthetic, federated)');
    expect(html).toContain('90.0 %');
    expect((html.match(/<svg /g) ?? []).length).toBeGreaterThanOrEqual(5);
    expect(html).toContain('data:image/png;base64,AAAA');
    expect(html).toContain('external &lt;hospital&gt;');
    expect(html).not.toContain('external <hospital>');
  });

  it('says where the BatchNorm statistics came from, with the model\'s own score beside, only when calibrated', () => {
    expect(renderReportHtml(sampleReport())).not.toContain('Site-local BatchNorm statistics');
    const report = sampleReport();
    report.federated.calibration = { 'SIEMENS SOMATOM <AS>': 9, 'GE LightSpeed': 8 };
    report.federated.testModelStatistics = metrics(0.7);
    report.external.calibration = { control: 9, 'covid-19': 5, cap: 3 };
    const html = renderReportHtml(report);
    expect(html).toContain('Site-local BatchNorm statistics');
    expect(html).toContain('SIEMENS SOMATOM &lt;AS&gt;: 9, GE LightSpeed: 8');
    expect(html).toContain('averaged statistics the federated model scores 70.0 %');
    expect(html).toContain('unlabeled archive 9 / 5 / 3');
  });

  it('lists the federated evaluation at each site with intervals, n and a confusion matrix each, only when there is one', () => {
    expect(renderReportHtml(sampleReport())).not.toContain('Federated evaluation at the sites');
    const report = sampleReport();
    report.evaluation = [
      { site: 'hospital-a', split: 'val', evaluation: 'ev1', n: 6, accuracy: 4 / 6, accuracyCi: [0.3, 0.903], aucCovid: 0.75, aucCovidCi: [0.41, 1], confusion: [[2, 0, 0], [1, 2, 0], [0, 1, 0]] },
      { site: 'external <hospital>', split: 'test', evaluation: 'ev2', n: 6, accuracy: 1, accuracyCi: [0.61, 1], aucCovid: null, aucCovidCi: null, confusion: [[2, 0, 0], [0, 3, 0], [0, 0, 1]] },
    ];
    const html = renderReportHtml(report);
    const section = html.slice(html.indexOf('Federated evaluation at the sites'), html.indexOf('Sample slices'));
    expect(section).toContain('<th>hospital-a</th><td>val</td><td>6</td><td>66.7 % <span class="note">(30.0 %–90.3 %)</span></td><td>0.750 <span class="note">(0.41–1.00)</span></td>');
    expect(section).toContain('<th>external &lt;hospital&gt;</th><td>test</td><td>6</td><td>100.0 %');
    expect((section.match(/<svg /g) ?? []).length).toBe(2);
  });

  it('draws one polyline point per published classifier round', () => {
    const html = renderReportHtml(sampleReport());
    const match = html.match(/Classifier \(3-D CNN\): loss per round.*?<polyline class="series" data-name="training loss" points="([^"]*)"/);
    expect(match?.[1]?.split(' ')).toHaveLength(2);
  });
});

describe(sliceWithInfectionPng.name, () => {
  it('writes a PNG twice as wide as the scaled slice, with positive residual in red', () => {
    const h = 16;
    const w = 16;
    const slice = new Float32Array(h * w).fill(0.5);
    const residual = new Float32Array(h * w);
    residual[5 * w + 5] = 1;
    const uri = sliceWithInfectionPng({ title: 't', slice, residual, height: h, width: w }, 64);
    expect(uri.startsWith('data:image/png;base64,')).toBe(true);
    const png = PNG.sync.read(Buffer.from(uri.slice('data:image/png;base64,'.length), 'base64'));
    const scale = 4;
    expect(png.height).toBe(h * scale);
    expect(png.width).toBe(2 * w * scale + 4 * scale);
    const px = (x: number, y: number): number[] => Array.from(png.data.subarray((y * png.width + x) * 4, (y * png.width + x) * 4 + 3));
    expect(px(5 * scale, 5 * scale)).toEqual([128, 128, 128]);
    const rightX = w * scale + 4 * scale + 5 * scale;
    expect(px(rightX, 5 * scale)).toEqual([255, 40, 20]);
    expect(px(rightX + scale, 5 * scale)).toEqual([128, 128, 128]);
  });
});

describe(parsePrometheus.name, () => {
  it('sums samples over labels and skips comments', () => {
    const text = '# HELP a x\n# TYPE a counter\nfedct_bytes_in_total 10\nfedct_updates_rejected_total{code="x"} 2\nfedct_updates_rejected_total{code="y"} 3\n';
    expect(parsePrometheus(text)).toEqual({ fedct_bytes_in_total: 10, fedct_updates_rejected_total: 5 });
  });
});
