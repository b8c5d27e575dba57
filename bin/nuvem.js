#!/usr/bin/env node
// The `nuvem` command (package.json "bin"): runs client/cli.ts through tsx in
// this same process, so argv, the exit code and signals (Ctrl-C, SIGTERM)
// are the CLI's own, with no child process in between.
import { register } from 'tsx/esm/api';

register();
await import('../client/cli.ts');
