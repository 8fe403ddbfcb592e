import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import type { CreateExperiment } from '@fedct/protocol';
import { AdminClient, type ExperimentView, type ModelInfo } from './admin-client';
import { sleep } from './concurrency';
import { startCoordinatorProcess, type CoordinatorHandle } from './coordinator-process';
import { externalScanners, loadDemoSettings, type DemoSettings } from './demo-settings';
import { buildInitialModels } from './initial-models';
import { DemoError } from './errors';
import { startEvaluation, type PendingEvaluation } from './evaluation';
import { federatedEvaluations } from './federated-evaluation';
import { reportRounds, runExperiment } from './federation';
import { planPhantoms, setUpHospital, startDaemon, writePhantoms, type HospitalHandle } from './hospitals';
import { mapLimit } from './concurrency';
import { renderReportHtml } from './report/html';
import type { DemoReport, FaultEvent, ModelIdentity, ReportRound } from './report/report.types';
import { Supervisor, type ManagedProcess } from './supervisor';
import { summarizeDaemonLine } from './daemon-lines';

export interface DemoOptions {
  profile: string;
  repoRoot: string;
  /** Everything the demo writes goes here (default demo-output/). */
  outDir: string;
  /** Kill and restart a hospital daemon and the coordinator mid-experiment (the fault-injection test). */
  faults: boolean;
  /** How many child processes prepare data at once. */
  parallel: number;
  /** A settings file merged over the profile's demo settings (`--settings`). */
  settings?: string;
  print: (line: string) => void;
}

export interface DemoResult {
  report: DemoReport;
  reportJson: string;
  reportHtml: string;
}

const sumCounts = (counts: Record<string, number>): number => Object.values(counts).reduce((a, b) => a + b, 0);

const isSecureAggRefusal = (error: unknown): boolean => error instanceof DemoError && /secure aggregation/i.test(error.message) && /HTTP 4\d\d/.test(error.message);

/**
 * The whole demo: coordinator and three hospital daemons as separate processes over loopback, both
 * federated phases, federated evaluation of the final model at every hospital and at a fourth,
 * external hospital (a site daemon that only evaluates), the same test set scored in-process with the
 * baselines, and the report.
 * Every child process is stopped when this returns or throws.
 */
export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const t0 = Date.now();
  const timings: Record<string, number> = {};
  const mark = (name: string, since: number): number => {
    const now = Date.now();
    timings[name] = now - since;
    return now;
  };
  const { print } = options;
  const settings: DemoSettings = loadDemoSettings(options.profile, options.repoRoot, options.settings);
  const out = resolve(options.outDir);
  for (const sub of ['coordinator-data', 'sites', 'data', 'logs', 'baselines', 'phantom-jobs']) rmSync(join(out, sub), { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const dataRoot = join(out, 'data');
  const sitesRoot = join(out, 'sites');
  const supervisor = new Supervisor(join(out, 'logs'), options.repoRoot);
  const removeHandlers = supervisor.installSignalHandlers((signal) => print(`\n${signal}: stopping every demo process`));
  const adminToken = randomBytes(24).toString('hex');
  const faults: FaultEvent[] = [];
  const fault = (kind: FaultEvent['kind'], target: string, detail: string): void => {
    faults.push({ atMs: Date.now() - t0, kind, target, detail });
    print(`[fault] ${kind} ${target}: ${detail}`);
  };
  const byteTotals = { toSites: 0, fromSites: 0 };
  let coordinator: CoordinatorHandle | null = null;
  /** Child processes the demo itself kills (fault injection) and the flag for the final shutdown. */
  const expectedExits = new Set<ManagedProcess>();
  let stopping = false;
  const failures: string[] = [];
  const check = (): void => {
    if (failures.length > 0) throw new DemoError(failures[0] ?? 'a demo process failed');
    if (coordinator && !coordinator.process.running && !expectedExits.has(coordinator.process)) {
      throw new DemoError(`the coordinator exited: ${coordinator.process.lastLines(2).replace(/\n/g, ' | ')} (log: ${coordinator.process.logFile})`);
    }
  };
  const timeoutMs = settings.timeoutMinutes * 60_000;
  const deadline = setTimeout(() => {
    print(`demo: no result within ${settings.timeoutMinutes} min; stopping every process`);
    void supervisor.stopAll(1000).finally(() => process.exit(1));
  }, timeoutMs);
  deadline.unref();
  try {
    print(`fedct demo, profile ${options.profile}: output in ${out} (logs in ${join(out, 'logs')})`);
    // 1. the coordinator
    let t = Date.now();
    const coordinatorDataDir = join(out, 'coordinator-data');
    coordinator = await startCoordinatorProcess(supervisor, { outDir: out, dataDir: coordinatorDataDir, adminToken, port: 0 });
    const admin = new AdminClient(coordinator.url, adminToken);
    print(`coordinator up at ${coordinator.url} (pid ${coordinator.process.pid})`);
    t = mark('coordinatorStartMs', t);

    // 2. synthetic studies, written as DICOM by `fedct-site phantom`
    const jobs = planPhantoms(settings, dataRoot);
    print(`writing ${jobs.length} synthetic studies as DICOM (${settings.hospitals.length} hospitals + ${settings.external.name}, ${settings.phantoms === 'cli' ? 'fedct-site phantom' : `phantom generator in-process${settings.phantomSlices ? `, ${settings.phantomSlices} source slices each` : ''}`}) ...`);
    let lastPrinted = 0;
    await writePhantoms(supervisor, jobs, { mode: settings.phantoms, slices: settings.phantomSlices, parallel: options.parallel, workDir: join(out, 'phantom-jobs') }, (done) => {
      if (done === jobs.length || Date.now() - lastPrinted > 5000) {
        lastPrinted = Date.now();
        print(`  phantoms ${done}/${jobs.length}`);
      }
    });
    t = mark('phantomsMs', t);

    // 3. hospitals: init, enrol, import, run
    print('setting up hospitals: fedct-site init, enroll (one-time token), import train/val ...');
    // Every hospital at once: the imports are independent, and with more cores than --parallel they use them.
    // The external hospital is a site too, but only for evaluation: it imports its test set (and
    // archive) and takes part in no training experiment (they name the three hospitals).
    const ext = settings.external;
    const setUpExternal = async (): Promise<HospitalHandle> =>
      setUpHospital(supervisor, admin, {
        name: ext.name, scanner: externalScanners(settings).join(', '), sitesRoot, dataRoot, profile: options.profile,
        imports: { test: ext.counts, ...(ext.calibration ? { calibration: ext.calibration } : {}) },
        evaluation: { splits: ['test'], minStudies: Math.max(1, Math.min(10, sumCounts(ext.counts))) },
      });
    const [external, hospitals] = await Promise.all([
      setUpExternal(),
      mapLimit(settings.hospitals, Math.max(options.parallel, settings.hospitals.length), async (h) => {
        // Policy: the shared model may be measured on its val studies (as few as the demo has), never on others.
        const evaluation = { splits: ['val' as const], minStudies: Math.max(1, Math.min(10, sumCounts(h.val))) };
        const handle = await setUpHospital(supervisor, admin, { name: h.name, scanner: h.scanner, sitesRoot, dataRoot, profile: options.profile, imports: { train: h.train, val: h.val }, evaluation });
        print(`  ${h.name} (${h.scanner}) enrolled and imported`);
        return handle;
      }),
    ]);
    print(`  ${ext.name} (${external.scanner}) enrolled and imported its test set (evaluation only)`);
    const daemonLine = (name: string) => (line: string) => {
      const summary = summarizeDaemonLine(line);
      if (summary) print(`  [${name}] ${summary}`);
    };
    // The hospitals train at once: each daemon gets its share of the cores (at least one thread).
    const daemonThreads = Math.max(1, Math.floor(availableParallelism() / hospitals.length));
    const launchDaemon = (h: HospitalHandle): void => {
      const proc = startDaemon(supervisor, h, daemonThreads, daemonLine(h.name));
      void proc.exited.then((info) => {
        if (!stopping && h.daemon === proc && !expectedExits.has(proc)) {
          failures.push(`${h.name}'s daemon exited (code ${info.code}, signal ${info.signal}): ${proc.lastLines(2).replace(/\n/g, ' | ')} (log: ${proc.logFile})`);
        }
      });
    };
    for (const h of [...hospitals, external]) launchDaemon(h);
    print(`started ${hospitals.length + 1} site daemons (fedct-site run)`);
    t = mark('sitesSetupMs', t);

    const siteNames = new Map<string, string>();
    const refreshSiteNames = async (): Promise<void> => {
      for (const s of await admin.sites()) siteNames.set(s.id, s.name);
    };
    await refreshSiteNames();
    const siteIds = new Map([...siteNames].map(([id, name]) => [name, id]));
    const idOf = (name: string): string => {
      const id = siteIds.get(name);
      if (!id) throw new DemoError(`${name} is not in GET /api/sites after enrolment`);
      return id;
    };
    const hospitalIds = hospitals.map((h) => idOf(h.name));

    const sampleCounters = async (): Promise<void> => {
      try {
        const c = await admin.counters();
        byteTotals.toSites += c.fedct_bytes_out_total ?? 0;
        byteTotals.fromSites += c.fedct_bytes_in_total ?? 0;
      } catch {
        // unreachable coordinator: its counters are lost with it
      }
    };

    // fault injection
    let siteKilled = false;
    let coordinatorKilled = false;
    let modelsBeforeKill: ModelInfo[] = [];
    const victim = hospitals[1] ?? hospitals[0];
    const injectFaults = async (view: ExperimentView): Promise<void> => {
      if (!options.faults || !victim || !coordinator) return;
      const training = view.rounds.filter((r) => r.state === 'training');
      if (!siteKilled) {
        const victimId = siteIds.get(victim.name);
        const round = training.find((r) => r.results.some((x) => x.siteId === victimId && x.status === 'invited'));
        if (round) {
          siteKilled = true;
          if (victim.daemon) expectedExits.add(victim.daemon);
          victim.daemon?.kill('SIGKILL');
          await victim.daemon?.exited;
          fault('site-killed', victim.name, `SIGKILL during ${view.phase} round ${round.round} before its update arrived`);
          await sleep(1500);
          launchDaemon(victim);
          fault('site-restarted', victim.name, 'fedct-site run started again on the same site folder');
        }
        return;
      }
      if (!coordinatorKilled && view.phase === 'classifier') {
        const round = training.find((r) => (r.round >= 2 && r.results.some((x) => x.status === 'accepted')) || r.round >= 3);
        if (!round) return;
        coordinatorKilled = true;
        modelsBeforeKill = await admin.models();
        await sampleCounters();
        const old = coordinator;
        expectedExits.add(old.process);
        old.process.kill('SIGKILL');
        await old.process.exited;
        const accepted = round.results.filter((x) => x.status === 'accepted').length;
        fault('coordinator-killed', 'coordinator', `SIGKILL during classifier round ${round.round} (${accepted} update(s) in, ${modelsBeforeKill.length} published models)`);
        await sleep(1000);
        coordinator = await startCoordinatorProcess(supervisor, { outDir: out, dataDir: coordinatorDataDir, adminToken, port: old.port });
        admin.setBaseUrl(coordinator.url);
        fault('coordinator-restarted', 'coordinator', `same data folder and port ${old.port}`);
      }
    };

    // 4. the denoiser phase, then the classifier phase
    const phaseSettings = (phase: 'denoiser' | 'classifier', extra: Partial<CreateExperiment> = {}): CreateExperiment => {
      const p = settings[phase];
      return {
        name: `demo ${options.profile} ${phase}`,
        phase,
        rounds: p.rounds,
        localEpochs: p.localEpochs,
        batchSize: p.batchSize,
        learningRate: p.learningRate,
        learningRateSchedule: p.learningRateSchedule,
        classBalanced: p.classBalanced,
        flipAugment: p.flipAugment,
        minSites: p.minSites,
        strategy: p.strategy,
        secureAgg: p.secureAgg,
        roundDeadlineSeconds: p.roundDeadlineSeconds,
        waitForSitesSeconds: 300,
        initSeed: settings.seed,
        sites: hospitalIds,
        ...extra,
      };
    };
    const run = async (experiment: CreateExperiment, onPoll: (view: ExperimentView) => Promise<void> = injectFaults): Promise<{ view: ExperimentView; secureAgg: boolean; durationMs: number }> => {
      const common = { admin, timeoutMs, print, siteNames: () => siteNames, onPoll, check };
      try {
        const outcome = await runExperiment({ ...common, settings: experiment });
        return { ...outcome, secureAgg: experiment.secureAgg ?? false };
      } catch (error) {
        if (!experiment.secureAgg || !isSecureAggRefusal(error)) throw error;
        print(`[${experiment.phase}] WARNING: the coordinator refused secure aggregation (${error instanceof Error ? error.message : ''}); running this phase without it`);
        const outcome = await runExperiment({ ...common, settings: { ...experiment, secureAgg: false } });
        return { ...outcome, secureAgg: false };
      }
    };
    t = Date.now();
    const initial = await buildInitialModels(settings.networks, settings.seed);
    const initialDenoiser = await admin.uploadModel(initial.denoiser, 'denoiser');
    const initialClassifier = await admin.uploadModel(initial.classifier, 'classifier');
    print(`initial models uploaded: denoiser ${initialDenoiser.version} (BCDU-Net ${settings.networks.bcdunet.size}², base ${settings.networks.bcdunet.base}), classifier ${initialClassifier.version} (3-D CNN ${settings.networks.cnn3d.inputShape.join('×')})`);
    t = mark('initialModelsMs', t);
    const denoiser = await run(phaseSettings('denoiser', { initialModel: initialDenoiser.version }));
    t = mark('denoiserPhaseMs', t);
    const denoiserVersion = denoiser.view.currentModel;
    if (!denoiserVersion) throw new DemoError(`denoiser experiment ${denoiser.view.id} completed without a published model`);
    const denoiserBytes = await admin.modelBytes(denoiserVersion);

    // 5. evaluation and baselines, in-process and in child processes: what does not need the federated
    // classifier starts once its first round is published (the daemons have cached their infection
    // volumes by then) and runs beside the classifier phase.
    let pending: PendingEvaluation | null = null;
    const startEvaluationNow = (): PendingEvaluation => {
      print(`evaluation: preparing ${settings.external.name}'s studies and training the baselines beside the classifier phase ...`);
      return startEvaluation({ profile: options.profile, settings, dataRoot, sitesRoot, denoiserBlob: denoiserBytes, initialClassifierBlob: initial.classifier, outDir: out, supervisor, parallel: options.parallel, print });
    };
    const classifier = await run(phaseSettings('classifier', { denoiserModel: denoiserVersion, initialModel: initialClassifier.version }), async (view) => {
      await injectFaults(view);
      if (!pending && view.rounds.some((r) => r.state === 'published')) pending = startEvaluationNow();
    });
    t = mark('classifierPhaseMs', t);
    const classifierVersion = classifier.view.currentModel;
    if (!classifierVersion) throw new DemoError(`classifier experiment ${classifier.view.id} completed without a published model`);
    await refreshSiteNames();
    const rounds: ReportRound[] = [...reportRounds(denoiser.view, 'denoiser', siteNames), ...reportRounds(classifier.view, 'classifier', siteNames)];

    const models = await admin.models();
    const lost = modelsBeforeKill.filter((m) => !models.some((x) => x.version === m.version && x.sha256 === m.sha256));
    if (lost.length > 0) throw new DemoError(`published model(s) lost across the coordinator restart: ${lost.map((m) => m.version).join(', ')}`);
    if (coordinatorKilled) print(`all ${modelsBeforeKill.length} models published before the coordinator was killed are still there (same sha256)`);
    const identity = (version: string): ModelIdentity => {
      const m = models.find((x) => x.version === version);
      if (!m) throw new DemoError(`model ${version} is not in GET /api/models`);
      return { version: m.version, sha256: m.sha256 };
    };
    const classifierBytes = await admin.modelBytes(classifierVersion);

    // 6. federated evaluation of the final model: each hospital on its val studies, the external
    // hospital on its test set, by the site daemons (only aggregate counts reach the coordinator).
    t = Date.now();
    const siteEvaluations = await federatedEvaluations({
      admin, classifierVersion, timeoutMs, print, check,
      requests: [
        { name: `demo ${options.profile}: hospitals (val)`, split: 'val', siteIds: hospitalIds, label: hospitals.map((h) => h.name).join(', ') },
        { name: `demo ${options.profile}: ${ext.name} (test)`, split: 'test', siteIds: [idOf(ext.name)], label: ext.name },
      ],
    });
    t = mark('federatedEvaluationMs', t);
    await sampleCounters();

    // The daemons and the coordinator are not needed any more: free the cores for the baselines.
    stopping = true;
    await Promise.all([...[...hospitals, external].map((h) => h.daemon?.stop()), coordinator?.process.stop()]);
    t = mark('shutdownMs', t);

    print(`evaluating the federated model ${classifierVersion} on ${settings.external.name} ...`);
    pending ??= startEvaluationNow();
    const evaluation = await (pending as PendingEvaluation).finish(classifierBytes);
    timings.evaluationMs = evaluation.timingsMs.federatedEvaluation;
    timings.baselinesMs = evaluation.timingsMs.baselines;
    timings.testPreparationMs = evaluation.timingsMs.testPreparation;
    timings.afterClassifierPhaseMs = evaluation.timingsMs.afterFederated;
    t = Date.now();

    const report: DemoReport = {
      profile: options.profile,
      createdAt: new Date().toISOString(),
      seed: settings.seed,
      backend: evaluation.backend,
      inputShape: evaluation.inputShape,
      sites: settings.hospitals.map((h) => ({ name: h.name, scanner: h.scanner, siteId: siteIds.get(h.name) ?? null, counts: { train: h.train, val: h.val } })),
      external: { name: settings.external.name, scanner: externalScanners(settings).join(', '), counts: settings.external.counts, ...(settings.external.calibration ? { calibration: settings.external.calibration } : {}) },
      rounds,
      federated: {
        denoiser: identity(denoiserVersion),
        classifier: identity(classifierVersion),
        publishedModels: models.map((m) => ({ version: m.version, sha256: m.sha256 })),
        secureAggregation: classifier.secureAgg,
        test: evaluation.federated,
        calibration: evaluation.calibration,
        testModelStatistics: evaluation.federatedModelStatistics,
      },
      evaluation: siteEvaluations,
      singleSite: evaluation.singleSite,
      centralized: evaluation.centralized,
      bytes: { ...byteTotals, modelBlob: { denoiser: denoiserBytes.length, classifier: classifierBytes.length } },
      timingsMs: timings,
      faults,
    };
    timings.totalMs = Date.now() - t0;
    const reportJson = join(out, 'report.json');
    const reportHtml = join(out, 'report.html');
    writeFileSync(reportJson, `${JSON.stringify(report, null, 2)}\n`);
    writeFileSync(reportHtml, renderReportHtml(report, evaluation.images));
    mark('reportMs', t);
    timings.totalMs = Date.now() - t0;
    writeFileSync(reportJson, `${JSON.stringify(report, null, 2)}\n`);
    writeFileSync(reportHtml, renderReportHtml(report, evaluation.images));
    return { report, reportJson, reportHtml };
  } finally {
    stopping = true;
    clearTimeout(deadline);
    await supervisor.stopAll();
    removeHandlers();
  }
}
