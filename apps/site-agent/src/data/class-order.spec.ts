/*
 * The classifier is trained on LABEL_INDEX[label] and read back by predict by index: if the two
 * orders disagreed, every prediction would name the wrong class and nothing else would fail.
 */
import { describe, expect, it } from 'vitest';
import { CLASS_NAMES as PIPELINE_CLASS_NAMES } from '@fedct/pipeline';
import { CLASS_NAMES } from '@fedct/protocol';
import { readProbabilities } from '../predict/predict.service';
import { LABEL_INDEX, LABELS } from './dataset-index';

const oneHot = (i: number): number[] => CLASS_NAMES.map((_, k) => (k === i ? 1 : 0));

describe('the class order of training and prediction', () => {
  it('gives every label an output index of its own', () => {
    expect([...LABELS].sort()).toEqual([...CLASS_NAMES].sort());
    expect(LABELS.map((label) => LABEL_INDEX[label]).sort()).toEqual(CLASS_NAMES.map((_, i) => i));
  });

  it('reads a label trained as LABEL_INDEX[label] back as that label', () => {
    for (const label of LABELS) {
      const read = readProbabilities(oneHot(LABEL_INDEX[label]));
      expect(read.prediction).toBe(label);
      expect(read.probabilities[label]).toBe(1);
    }
  });

  it('names output i CLASS_NAMES[i], in predict and in the metrics', () => {
    CLASS_NAMES.forEach((name, i) => {
      expect(readProbabilities(oneHot(i)).prediction).toBe(name);
      expect(PIPELINE_CLASS_NAMES[i]).toBe(name);
    });
  });

  it('lists the probabilities in output order', () => {
    expect(Object.keys(readProbabilities([0.2, 0.5, 0.3]).probabilities)).toEqual([...CLASS_NAMES]);
  });
});
