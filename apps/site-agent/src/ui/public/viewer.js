// The clinicians' viewer: lists the local dataset, runs a prediction on this machine, and shows the
// CT slices with the infection map through niivue (WebGL2). Served by `fedct-site ui`; no build step.
import { Niivue, SLICE_TYPE, DRAG_MODE } from '/vendor/niivue.js';
import { summaryCanvas } from '/static/summary.js';

const HU_MIN = -1000;
const HU_RANGE = 1400; // model-ready values are (HU + 1000) / 1400 (spec §1)
const PRESETS = { lung: [1500, -600], full: [1400, -300], soft: [400, 40] };
const CLASS_NAMES = { control: 'Control (no pneumonia)', cap: 'Community-acquired pneumonia', 'covid-19': 'COVID-19' };
const NIFTI_HEADER = 352;

const $ = (id) => document.getElementById(id);

const state = {
  nv: null,
  result: null,
  shape: null,
  volume: null,
  infection: null,
  slice: 0,
  busy: false,
  /** Display threshold of the infection map (values below are transparent). */
  overlayMin: 0,
};

function showError(message) {
  const box = $('error');
  box.textContent = message;
  box.hidden = false;
}

function clearError() {
  $('error').hidden = true;
  $('error').textContent = '';
}

function setStatus(text) {
  $('status').textContent = text;
}

async function api(path, init) {
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new Error('The viewer service is not reachable. Is `fedct-site ui` still running?');
  }
  const text = await response.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!response.ok) throw new Error(body?.error?.message ?? `${response.status} ${response.statusText}`);
  return body;
}

async function loadInfo() {
  try {
    const info = await api('/api/info');
    const model = info.model ? `model ${info.model.version ?? info.model.sha256.slice(0, 12)}` : 'no global model yet (the site daemon fetches it)';
    $('site-info').textContent = `${info.siteName ? `Site ${info.siteName}` : 'No site folder'} · ${model}`;
  } catch (error) {
    $('site-info').textContent = '';
    showError(error.message);
  }
}

async function loadStudies() {
  const { studies } = await api('/api/studies');
  const table = $('studies');
  const body = table.querySelector('tbody');
  body.replaceChildren();
  $('studies-empty').hidden = studies.length > 0;
  table.hidden = studies.length === 0;
  for (const study of studies) {
    const row = document.createElement('tr');
    const name = document.createElement('td');
    name.textContent = study.sourcePath.split(/[\\/]/).filter(Boolean).pop() ?? study.id;
    name.title = study.sourcePath;
    const label = document.createElement('td');
    label.textContent = `${study.label} (${study.split})`;
    const slices = document.createElement('td');
    slices.textContent = String(study.slices);
    const action = document.createElement('td');
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = 'Predict';
    button.setAttribute('aria-label', `Run the prediction on ${name.textContent}`);
    button.addEventListener('click', () => runPrediction(study.sourcePath));
    action.append(button);
    row.append(name, label, slices, action);
    body.append(row);
  }
}

function setBusy(busy) {
  state.busy = busy;
  for (const button of document.querySelectorAll('#studies button, #open-button')) button.disabled = busy;
}

async function runPrediction(path) {
  if (state.busy) return;
  clearError();
  setBusy(true);
  setStatus(`Running the prediction on ${path}… (this takes a few seconds to minutes on a CPU)`);
  try {
    const result = await api('/api/predict', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ path }) });
    showResult(result);
    await showImages(result);
    setStatus(`Done: ${path}`);
  } catch (error) {
    setStatus('The prediction did not run.');
    showError(error.message);
  } finally {
    setBusy(false);
  }
}

function showResult(result) {
  state.result = result;
  $('result').hidden = false;
  $('prediction').textContent = CLASS_NAMES[result.prediction] ?? result.prediction;
  const list = $('probabilities');
  list.replaceChildren();
  for (const key of ['covid-19', 'cap', 'control']) {
    const p = result.probabilities[key] ?? 0;
    const dt = document.createElement('dt');
    dt.textContent = CLASS_NAMES[key];
    const dd = document.createElement('dd');
    const bar = document.createElement('meter');
    bar.min = 0;
    bar.max = 1;
    bar.value = p;
    bar.setAttribute('aria-label', `${CLASS_NAMES[key]} probability`);
    const text = document.createElement('span');
    text.className = 'prob';
    text.dataset.class = key;
    text.textContent = `${(p * 100).toFixed(1)} %`;
    dd.append(bar, text);
    if (key === result.prediction) dd.classList.add('top');
    list.append(dt, dd);
  }
  const total = Object.values(result.timingMs ?? {}).reduce((a, b) => a + b, 0);
  $('model-line').textContent = `Model ${result.model.version ?? '(file)'} · sha256 ${result.model.sha256.slice(0, 16)}… · ${result.shape[0]} slices · ${(total / 1000).toFixed(1)} s`;
  // The newest federated evaluation of this model at this site (accuracy, 95 % interval, n), or why there is none.
  $('evaluation-line').textContent = result.evaluationLine ?? '';
  $('evaluation-line').classList.toggle('unknown', !result.evaluation);
  const warnings = $('warnings');
  warnings.replaceChildren();
  for (const warning of result.warnings ?? []) {
    const item = document.createElement('li');
    item.textContent = warning;
    warnings.append(item);
  }
}

async function fetchVolume(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`could not load ${url} (${response.status})`);
  const buffer = await response.arrayBuffer();
  return new Float32Array(buffer.slice(NIFTI_HEADER));
}

function sliceSums(infection, shape, threshold) {
  const [nz, ny, nx] = shape;
  const plane = ny * nx;
  const sums = new Float64Array(nz);
  for (let z = 0; z < nz; z++) {
    let s = 0;
    for (let i = z * plane; i < (z + 1) * plane; i++) if (infection[i] > threshold) s += infection[i];
    sums[z] = s;
  }
  return sums;
}

function mostInfectedSlice() {
  if (!state.infection || !state.result?.overlay) return Math.floor(state.shape[0] / 2);
  const sums = sliceSums(state.infection, state.shape, state.overlayMin);
  let best = 0;
  for (let z = 1; z < sums.length; z++) if (sums[z] > sums[best]) best = z;
  return best;
}

async function ensureNiivue() {
  if (state.nv) return state.nv;
  const nv = new Niivue({
    backColor: [0, 0, 0, 1],
    crosshairColor: [0.2, 0.8, 1, 0.35],
    crosshairWidth: 0,
    isColorbar: false,
    isOrientationTextVisible: true,
    isRadiologicalConvention: true,
    dragMode: DRAG_MODE.windowing,
    logLevel: 'error',
    loadingText: '',
    dragAndDropEnabled: false,
  });
  await nv.attachToCanvas($('viewer-canvas'));
  nv.onLocationChange = (location) => {
    syncSliceFromViewer();
    showCursorValue(location);
  };
  nv.setSliceType(SLICE_TYPE.AXIAL);
  state.nv = nv;
  return nv;
}

async function showImages(result) {
  $('viewer').hidden = false;
  state.shape = result.shape;
  const [volume, infection] = await Promise.all([fetchVolume(result.volumeUrl), result.infectionUrl ? fetchVolume(result.infectionUrl) : Promise.resolve(null)]);
  state.volume = volume;
  state.infection = infection;
  const nv = await ensureNiivue();
  const [ww, wc] = readWindow();
  const [calMin, calMax] = windowToCal(ww, wc);
  const list = [{ url: result.volumeUrl, name: 'volume.nii', colormap: 'gray', cal_min: calMin, cal_max: calMax }];
  if (result.infectionUrl) {
    list.push({ url: result.infectionUrl, name: 'infection.nii', colormap: 'warm', opacity: overlayOpacity(), cal_min: result.overlay.min, cal_max: result.overlay.max });
  }
  state.overlayMin = result.overlay ? thresholdValue() : 0;
  if (result.infectionUrl) list[1].cal_min = state.overlayMin;
  await nv.loadVolumes(list);
  const slider = $('slice');
  slider.max = String(result.shape[0]);
  $('overlay-on').disabled = !result.infectionUrl;
  $('overlay-threshold').disabled = !result.infectionUrl;
  $('jump-max').disabled = !result.infectionUrl;
  setSlice(mostInfectedSlice());
}

function thresholdValue() {
  const fraction = Number($('overlay-threshold').value) / 100;
  return state.result?.overlay ? state.result.overlay.max * fraction : 0;
}

function applyThreshold() {
  $('overlay-threshold-label').textContent = `${$('overlay-threshold').value} % of the map's high end`;
  if (!state.result?.overlay) return;
  state.overlayMin = thresholdValue();
  const nv = state.nv;
  if (nv && nv.volumes.length > 1) {
    nv.volumes[1].cal_min = state.overlayMin;
    nv.updateGLVolume();
  }
  updateOverlayInfo();
}

function overlayOpacity() {
  return $('overlay-on').checked ? Number($('overlay-opacity').value) / 100 : 0;
}

function readWindow() {
  return [Math.max(1, Number($('ww').value) || 1500), Number($('wc').value) || 0];
}

function windowToCal(ww, wc) {
  return [(wc - ww / 2 - HU_MIN) / HU_RANGE, (wc + ww / 2 - HU_MIN) / HU_RANGE];
}

function applyWindow() {
  const nv = state.nv;
  if (!nv || nv.volumes.length === 0) return;
  const [calMin, calMax] = windowToCal(...readWindow());
  nv.volumes[0].cal_min = calMin;
  nv.volumes[0].cal_max = calMax;
  nv.updateGLVolume();
}

function currentVoxel() {
  const nv = state.nv;
  return nv.frac2vox(nv.scene.crosshairPos);
}

function setSlice(index) {
  const nv = state.nv;
  if (!nv || !state.shape) return;
  const target = Math.max(0, Math.min(state.shape[0] - 1, Math.round(index)));
  const now = currentVoxel()[2];
  if (target !== now) nv.moveCrosshairInVox(0, 0, target - now);
  syncSliceFromViewer();
}

function syncSliceFromViewer() {
  if (!state.nv || !state.shape) return;
  const z = Math.round(currentVoxel()[2]);
  state.slice = z;
  $('slice').value = String(z + 1);
  $('slice-label').textContent = `${z + 1} / ${state.shape[0]}`;
  updateOverlayInfo();
}

function updateOverlayInfo() {
  if (!state.infection || !state.result?.overlay) {
    $('overlay-info').textContent = state.result ? 'No infection map for this model.' : '';
    return;
  }
  const [, ny, nx] = state.shape;
  const plane = ny * nx;
  let count = 0;
  for (let i = state.slice * plane; i < (state.slice + 1) * plane; i++) if (state.infection[i] > state.overlayMin) count++;
  $('overlay-info').textContent = `Infection map on this slice: ${count} pixels above the display threshold.`;
}

/** The CT value (HU) and the infection map's value at niivue's crosshair. */
function showCursorValue(location) {
  const values = Array.isArray(location?.values) ? location.values : [];
  const ct = Number(values[0]?.value);
  if (!Number.isFinite(ct)) return;
  const map = Number(values[1]?.value);
  const hu = Math.round(ct * HU_RANGE + HU_MIN);
  $('cursor-info').textContent = `Cursor: ${hu} HU${Number.isFinite(map) ? ` · infection map ${map.toFixed(3)}` : ''}`;
}

function onViewerKey(event) {
  const steps = { ArrowUp: 1, ArrowDown: -1, PageUp: 5, PageDown: -5 };
  if (event.key in steps) {
    setSlice(state.slice + steps[event.key]);
  } else if (event.key === 'Home') {
    setSlice(0);
  } else if (event.key === 'End') {
    setSlice(Number.MAX_SAFE_INTEGER);
  } else {
    return;
  }
  event.preventDefault();
}

/** What the summary picture shows now: the result, the volumes, the window, the overlay as displayed. */
function summaryView() {
  const overlay = state.result.overlay ? { min: state.overlayMin, max: state.result.overlay.max } : null;
  return {
    result: state.result,
    volume: state.volume,
    infection: state.infection,
    shape: state.shape,
    slice: state.slice,
    cal: windowToCal(...readWindow()),
    overlay,
    alpha: $('overlay-on').checked ? Number($('overlay-opacity').value) / 100 : 0,
    sums: state.infection && overlay ? sliceSums(state.infection, state.shape, state.overlayMin) : null,
    classNames: CLASS_NAMES,
  };
}

function saveSummary() {
  if (!state.result || !state.volume) return;
  const result = state.result;
  summaryCanvas(summaryView()).toBlob((blob) => {
    const link = document.createElement('a');
    link.href = URL.createObjectURL(blob);
    link.download = `fedct-summary-${result.id}.png`;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  }, 'image/png');
}

/** Prints the summary picture alone (the browser's print dialog also saves it as a PDF). */
function printSummary() {
  if (!state.result || !state.volume) return;
  const image = $('print-image');
  image.onload = () => window.print();
  image.src = summaryCanvas(summaryView()).toDataURL('image/png');
}

function wire() {
  $('open-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const path = $('study-path').value.trim();
    if (path) runPrediction(path);
  });
  $('viewer-canvas').addEventListener('keydown', onViewerKey);
  $('slice').addEventListener('input', () => setSlice(Number($('slice').value) - 1));
  $('wl-preset').addEventListener('change', () => {
    const preset = PRESETS[$('wl-preset').value];
    if (!preset) return;
    $('ww').value = String(preset[0]);
    $('wc').value = String(preset[1]);
    applyWindow();
  });
  for (const id of ['ww', 'wc']) {
    $(id).addEventListener('input', () => {
      $('wl-preset').value = 'custom';
      applyWindow();
    });
  }
  const overlayChanged = () => {
    if (state.nv && state.nv.volumes.length > 1) state.nv.setOpacity(1, overlayOpacity());
  };
  $('overlay-on').addEventListener('change', overlayChanged);
  $('overlay-opacity').addEventListener('input', overlayChanged);
  $('overlay-threshold').addEventListener('input', applyThreshold);
  $('jump-max').addEventListener('click', () => setSlice(mostInfectedSlice()));
  $('save-png').addEventListener('click', saveSummary);
  $('print-summary').addEventListener('click', printSummary);
  $('viewer-canvas').addEventListener('pointerup', () => {
    // Right-drag windowing in niivue changes the display range: show it in the W/L fields.
    const vol = state.nv?.volumes[0];
    if (!vol) return;
    const ww = (vol.cal_max - vol.cal_min) * HU_RANGE;
    const wc = ((vol.cal_max + vol.cal_min) / 2) * HU_RANGE + HU_MIN;
    if (Math.abs(ww - readWindow()[0]) > 1 || Math.abs(wc - readWindow()[1]) > 1) {
      $('ww').value = String(Math.round(ww));
      $('wc').value = String(Math.round(wc));
      $('wl-preset').value = 'custom';
    }
  });
}

wire();
loadInfo();
loadStudies().catch((error) => showError(error.message));
window.fedctViewer = state;
