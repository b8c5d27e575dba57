/**
 * The Syncthing half of `npm run bench:sync`: two Syncthing instances on
 * loopback (Debian's `syncthing`, each with its own home and ports), their
 * devices introduced to each other, one shared folder; local discovery,
 * global discovery, relays, NAT traversal and usage reporting off. Started
 * once per watcher delay (`fsWatcherDelayS`: Syncthing's default 10 s, then
 * 1 s), stopped by PID.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "./nginx.ts";
import { stopChild, track } from "./server_proc.ts";

export const SYNCTHING = "/usr/bin/syncthing";

/** `syncthing v1.19.2-ds1 …`, or undefined when it is not installed. */
export function syncthingVersion(): string | undefined {
  const r = spawnSync(SYNCTHING, ["--version"], { encoding: "utf8" });
  if (r.error || r.status !== 0) return undefined;
  return r.stdout.trim().split(" ").slice(0, 2).join(" ");
}

interface Instance { home: string; dir: string; id: string; gui: number; listen: number; apiKey: string; child?: ChildProcess }

export interface SyncthingPair {
  /** The shared folder on each side. */
  a: string;
  b: string;
  pids: number[];
  stop(): Promise<void>;
}

function generate(home: string): string {
  const r = spawnSync(SYNCTHING, ["generate", `--home=${home}`, "--no-default-folder"], { encoding: "utf8" });
  const id = /Device ID:\s*(\S+)/.exec(r.stdout + r.stderr)?.[1];
  if (!id) throw new Error(`syncthing generate failed: ${r.stdout}${r.stderr}`);
  return id;
}

function config(self: Instance, peer: Instance, delayS: number): string {
  const device = (i: Instance, name: string) => `
    <device id="${i.id}" name="${name}" compression="metadata" introducer="false">
        <address>tcp://127.0.0.1:${i.listen}</address>
        <autoAcceptFolders>false</autoAcceptFolders>
    </device>`;
  return `<configuration version="36">
    <folder id="bench" label="bench" path="${self.dir}" type="sendreceive" rescanIntervalS="3600" fsWatcherEnabled="true" fsWatcherDelayS="${delayS}" ignorePerms="false" autoNormalize="true">
        <device id="${self.id}"></device>
        <device id="${peer.id}"></device>
        <minDiskFree unit="%">1</minDiskFree>
    </folder>${device(self, "self")}${device(peer, "peer")}
    <gui enabled="true" tls="false">
        <address>127.0.0.1:${self.gui}</address>
        <apikey>${self.apiKey}</apikey>
    </gui>
    <options>
        <listenAddress>tcp://127.0.0.1:${self.listen}</listenAddress>
        <globalAnnounceEnabled>false</globalAnnounceEnabled>
        <localAnnounceEnabled>false</localAnnounceEnabled>
        <relaysEnabled>false</relaysEnabled>
        <natEnabled>false</natEnabled>
        <urAccepted>-1</urAccepted>
        <urSeen>3</urSeen>
        <startBrowser>false</startBrowser>
        <crashReportingEnabled>false</crashReportingEnabled>
        <autoUpgradeIntervalH>0</autoUpgradeIntervalH>
        <announceLANAddresses>false</announceLANAddresses>
    </options>
</configuration>
`;
}

async function api(i: Instance, path: string): Promise<unknown> {
  const res = await fetch(`http://127.0.0.1:${i.gui}${path}`, { headers: { "x-api-key": i.apiKey }, signal: AbortSignal.timeout(2000) });
  if (!res.ok) throw new Error(`${path}: ${res.status}`);
  return res.json();
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Two connected instances sharing one folder, with `fsWatcherDelayS = delayS`; resolves once they are connected and idle. */
export async function startSyncthingPair(root: string, delayS: number): Promise<SyncthingPair> {
  const make = async (name: string): Promise<Instance> => {
    const home = join(root, `${name}-home`);
    const dir = join(root, `${name}-folder`);
    mkdirSync(dir, { recursive: true });
    const id = generate(home);
    return { home, dir, id, gui: await freePort(), listen: await freePort(), apiKey: `bench-${name}-${Date.now()}` };
  };
  const a = await make("a");
  const b = await make("b");
  writeFileSync(join(a.home, "config.xml"), config(a, b, delayS));
  writeFileSync(join(b.home, "config.xml"), config(b, a, delayS));
  for (const i of [a, b]) {
    const child = spawn(SYNCTHING, ["serve", `--home=${i.home}`, "--no-browser", "--no-restart", "--no-upgrade", "--logfile=-"], {
      stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, STNODEFAULTFOLDER: "1", STNOUPGRADE: "1" },
    });
    track(child);
    i.child = child;
  }
  const stop = async () => {
    for (const i of [a, b]) if (i.child) await stopChild(i.child);
  };
  try {
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        const conns = (await api(a, "/rest/system/connections")) as { connections: Record<string, { connected: boolean }> };
        const idle = await Promise.all([a, b].map(async (i) => ((await api(i, "/rest/db/status?folder=bench")) as { state: string }).state));
        if (conns.connections[b.id]?.connected && idle.every((s) => s === "idle")) break;
      } catch { /* not up yet */ }
      if (Date.now() > deadline) throw new Error(`Syncthing instances did not connect within 60 s (homes ${a.home}, ${b.home})`);
      await sleep(200);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { a: a.dir, b: b.dir, pids: [a.child!.pid!, b.child!.pid!], stop };
}
