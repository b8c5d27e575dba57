/**
 * Runs `node SCRIPT ARGS` to its end and gives back its exit code and
 * output: how the CLI suites run `bin/nuvem.js`.
 */
import { spawn } from 'node:child_process';
import process from 'node:process';

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runScript(script: string, args: string[], options: { cwd: string; env: Record<string, string | undefined> }): Promise<Run> {
  const child = spawn(process.execPath, [script, ...args], { cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'], env: options.env });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c) => (stdout += c));
  child.stderr.on('data', (c) => (stderr += c));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}
