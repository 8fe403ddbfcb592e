// "Measure a classifier": the body of POST /api/evaluations from the form, and its site choices.
import { numberField } from './api.js';
import { $, element } from './dom.js';
import { state } from './state.js';

/** One checkbox per site that can be asked (enrolled, not revoked); ticks survive a re-render. */
export function renderSiteChoices() {
  const box = $('e-sites');
  const ticked = new Set([...box.querySelectorAll('input:checked')].map((input) => input.value));
  box.replaceChildren();
  for (const site of state.sites.filter((s) => !s.revokedAt)) {
    const label = element('label', 'choice');
    const input = document.createElement('input');
    input.type = 'checkbox';
    input.value = site.id;
    input.checked = ticked.has(site.id);
    label.append(input, document.createTextNode(site.name));
    box.append(label);
  }
  $('e-sites-empty').hidden = box.childElementCount > 0;
}

/** The request body; the denoiser, sites, deadline and name are left out when not given. */
export function evaluationRequest() {
  const body = { classifierVersion: $('e-classifier').value, split: $('e-split').value };
  if ($('e-denoiser').value) body.denoiserVersion = $('e-denoiser').value;
  const sites = [...$('e-sites').querySelectorAll('input:checked')].map((input) => input.value);
  if (sites.length > 0) body.sites = sites;
  const deadline = numberField('e-deadline');
  if (deadline !== undefined) body.deadlineSeconds = deadline;
  const name = $('e-name').value.trim();
  if (name) body.name = name;
  return body;
}
