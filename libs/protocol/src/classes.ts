/**
 * The classifier's classes, in the order of its output (covidctnet-spec.md §5: 0 = Control,
 * 1 = Covid-19, 2 = CAP). The order is part of the model contract: a published classifier's
 * probabilities are read by index everywhere (metrics, predict, the viewer, the demo report), and a
 * site's labels are stored by name and turned into these indices for training. The one definition;
 * every package imports it.
 */
export const CLASSES = [
  { name: 'control', index: 0, display: 'Control' },
  { name: 'covid-19', index: 1, display: 'Covid-19' },
  { name: 'cap', index: 2, display: 'CAP' },
] as const;

/** A class name: `control`, `covid-19` or `cap`. */
export type ClassName = (typeof CLASSES)[number]['name'];

/** Class names in output order. */
export const CLASS_NAMES: readonly ClassName[] = CLASSES.map((c) => c.name);

/** Output index of each class. */
export const CLASS_INDEX: Readonly<Record<ClassName, number>> = Object.fromEntries(CLASSES.map((c) => [c.name, c.index])) as Record<ClassName, number>;

/** How people read each class (reports, the viewer, the CLI). */
export const CLASS_DISPLAY: Readonly<Record<ClassName, string>> = Object.fromEntries(CLASSES.map((c) => [c.name, c.display])) as Record<ClassName, string>;

/** Whether `value` names a class. */
export function isClassName(value: unknown): value is ClassName {
  return typeof value === 'string' && (CLASS_NAMES as readonly string[]).includes(value);
}
