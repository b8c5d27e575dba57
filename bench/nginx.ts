/**
 * nginx as a benchmark reference: WebDAV `PUT` on `/files/`, static `GET`,
 * generated config in a temp folder, master in the foreground so we own its
 * PID. nginx does not fsync uploads.
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { connect, createServer } from "node:net";
import { join } from "node:path";
import { stopChild, track, type ServerProc } from "./server_proc.ts";

/** Path of the nginx binary, or undefined if it is not installed. */
export function findNginx(): string | undefined {
  for (const p of ["/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx"]) {
    try {
      execFileSync(p, ["-v"], { stdio: "ignore" });
      return p;
    } catch { /* next */ }
  }
  return undefined;
}

/** `nginx/1.x.y` as printed by `nginx -v`. */
export function nginxVersion(bin: string): string {
  const r = spawnSync(bin, ["-v"], { encoding: "utf8" });
  return (r.stderr + r.stdout).trim().replace(/^nginx version: /, "") || "unknown";
}

/** A loopback port that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === "object" && addr ? addr.port : 0));
    });
  });
}

function config(o: { prefix: string; data: string; port: number }): string {
  const t = (name: string) => join(o.prefix, name);
  return `user root;
daemon off;
master_process on;
worker_processes 2;
pid ${t("nginx.pid")};
error_log ${t("error.log")} warn;
events { worker_connections 1024; }
http {
  access_log off;
  default_type application/octet-stream;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  client_body_temp_path ${join(o.data, ".client_body_temp")};
  proxy_temp_path ${t("proxy_temp")};
  fastcgi_temp_path ${t("fastcgi_temp")};
  uwsgi_temp_path ${t("uwsgi_temp")};
  scgi_temp_path ${t("scgi_temp")};
  server {
    listen 127.0.0.1:${o.port};
    root ${o.data};
    location /files/ {
      dav_methods PUT;
      create_full_put_path on;
      dav_access user:rw group:r all:r;
      client_max_body_size 0;
    }
  }
}
`;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => { s.destroy(); resolve(true); });
    s.once("error", () => resolve(false));
  });
}

/**
 * Starts nginx with a config written into `prefix`, serving files stored
 * under `data` (`/files/x` is `data/files/x`), and waits until it accepts
 * connections.
 */
export async function startNginx(o: { bin: string; prefix: string; data: string }): Promise<ServerProc> {
  mkdirSync(o.prefix, { recursive: true });
  mkdirSync(join(o.data, "files"), { recursive: true });
  const port = await freePort();
  const conf = join(o.prefix, "nginx.conf");
  writeFileSync(conf, config({ prefix: o.prefix, data: o.data, port }));
  const errorLog = join(o.prefix, "error.log");
  const child = spawn(o.bin, ["-c", conf, "-p", o.prefix, "-e", errorLog], { stdio: ["ignore", "inherit", "inherit"] });
  track(child);
  const deadline = Date.now() + 10_000;
  while (!(await canConnect(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stopChild(child, 1000);
      let log = "";
      try { log = readFileSync(errorLog, "utf8").trim().split("\n").slice(-3).join(" | "); } catch { /* none */ }
      throw new Error(`nginx did not start on port ${port}: ${log || "no error log"}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { name: "nginx", pid: child.pid!, url: `http://127.0.0.1:${port}`, child, stop: () => stopChild(child) };
}
