/**
 * Entry point of the node bundle (`npm run build` → dist/nuvem-node.cjs), which
 * `nuvem up`, `npm start` and the benchmarks run under plain node. The bundle
 * is CommonJS: its packages (mqtt, libsql, hono…) then load through
 * `require`, which costs about 12 MiB less memory than loading CommonJS
 * packages from an ES module (Node 20 instantiates its CommonJS export lexer
 * for that).
 */
import { main } from './main.ts';

main(process.argv.slice(2));
