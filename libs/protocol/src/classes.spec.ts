import { describe, expect, it } from 'vitest';
import { CLASSES, CLASS_DISPLAY, CLASS_INDEX, CLASS_NAMES, isClassName } from './classes';

describe('the class list', () => {
  it('is the spec\'s output order: 0 control, 1 covid-19, 2 cap', () => {
    expect(CLASS_NAMES).toEqual(['control', 'covid-19', 'cap']);
    expect(CLASS_INDEX).toEqual({ control: 0, 'covid-19': 1, cap: 2 });
    CLASSES.forEach((c, i) => expect(c.index).toBe(i));
    expect(CLASS_DISPLAY['covid-19']).toBe('Covid-19');
    expect(isClassName('cap')).toBe(true);
    expect(isClassName('flu')).toBe(false);
  });
});
