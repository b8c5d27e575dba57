// Types of run_summary.mjs (plain JavaScript: run.mjs runs without tsx).
export interface SkipRecord {
  suite: string;
  reason: string;
}
export interface UvuTotals {
  total: number;
  passed: number;
  skipped: number;
}
export function skippedLine(records: SkipRecord[], marked?: number): string;
export function parseSkipRecords(text: string): SkipRecord[];
export function uvuTotals(output: string): UvuTotals;
export function summaryLine(totals: UvuTotals, crashed: boolean): { line: string; failed: number };
