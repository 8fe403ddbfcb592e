/** Interesting daemon log lines, shortened for the terminal (JSON log lines are unpacked). */
export function summarizeDaemonLine(line: string): string | null {
  let text = line;
  if (line.startsWith('{')) {
    try {
      const entry = JSON.parse(line) as Record<string, unknown>;
      const msg = typeof entry.msg === 'string' ? entry.msg : typeof entry.message === 'string' ? entry.message : '';
      const fields = Object.entries(entry)
        .filter(([k]) => !['msg', 'message', 'time', 'level', 'pid', 'hostname', 'name'].includes(k))
        .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`);
      text = `${msg} ${fields.join(' ')}`.trim();
    } catch {
      text = line;
    }
  }
  return /task received|training done|update accepted|refused|rejected|disconnected|cannot reach|error|failed/i.test(text) ? text.slice(0, 200) : null;
}
