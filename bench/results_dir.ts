/** bench/results/: each benchmark's last results (JSON, logs), kept out of git by its own .gitignore. */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const RESULTS = fileURLToPath(new URL("results/", import.meta.url));

/** Writes `text` to bench/results/`name`; returns the file's path. */
export function writeResult(name: string, text: string): string {
  mkdirSync(RESULTS, { recursive: true });
  const gitignore = join(RESULTS, ".gitignore");
  if (!existsSync(gitignore)) writeFileSync(gitignore, "*\n!.gitignore\n");
  const file = join(RESULTS, name);
  writeFileSync(file, text);
  return file;
}
