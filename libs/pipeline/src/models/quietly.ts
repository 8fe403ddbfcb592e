/**
 * Runs `fn` with `console.warn` silenced: tfjs-layers warns on large orthogonal initialisers, and
 * libraries here never print.
 */
export function quietly<T>(fn: () => T): T {
  const original = console.warn;
  console.warn = () => undefined;
  try {
    return fn();
  } finally {
    console.warn = original;
  }
}
