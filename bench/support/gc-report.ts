// The line gc-on-signal.ts writes after a forced full GC: shared by the preload and the bench that reads it.
export const GC_REPORT_MSG = 'bench: memory after full gc';

export interface GcReport {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

/** The report in a parsed log line, if the line is one. */
export function gcReportOf(line: Record<string, unknown>): GcReport | undefined {
  if (line.msg !== GC_REPORT_MSG) return undefined;
  const { rss, heapTotal, heapUsed, external, arrayBuffers } = line;
  if (
    typeof rss !== 'number' ||
    typeof heapTotal !== 'number' ||
    typeof heapUsed !== 'number' ||
    typeof external !== 'number' ||
    typeof arrayBuffers !== 'number'
  )
    return undefined;
  return { rss, heapTotal, heapUsed, external, arrayBuffers };
}
