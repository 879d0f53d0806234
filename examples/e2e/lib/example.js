// Building and running the Go examples for the browser tests.
//
// buildExample compiles ./examples/<name> of this repository once per test
// process; startExample runs the binary on 127.0.0.1, waits until it prints
// the URL it serves, and returns a handle whose stop() sends SIGTERM and
// waits for a graceful exit.
import { spawn, execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);

/** The repository root: two directories above this package (this file is in its lib/). */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..");

const built = new Map(); // example name -> Promise<binary path>
let buildDir;

/**
 * Compiles the example ./examples/<name> with `go build` into a temporary
 * directory, once per process, and returns the binary's path.
 */
export function buildExample(name, { timeoutMs = 180_000 } = {}) {
  if (!built.has(name)) {
    built.set(name, (async () => {
      buildDir ??= await mkdtemp(path.join(tmpdir(), "stdrealtime-e2e-bin-"));
      const bin = path.join(buildDir, name);
      await run("go", ["build", "-o", bin, "./examples/" + name], { cwd: repoRoot, timeout: timeoutMs });
      return bin;
    })());
  }
  return built.get(name);
}

/** Removes the binaries built by buildExample. */
export async function removeBuilds() {
  if (buildDir) await rm(buildDir, { recursive: true, force: true });
  built.clear();
  buildDir = undefined;
}

/**
 * Runs an example binary. addr is "127.0.0.1:0" for a free port, or a
 * fixed address (to restart on the same port); env holds variables added
 * to this process's environment. Resolves once the program prints
 * "http://127.0.0.1:<port>/" on its standard output, with
 * { url, addr, port, output(), stop() }; rejects if it exits first or
 * does not print within timeoutMs.
 */
export function startExample(bin, { addr = "127.0.0.1:0", args = [], env = {}, timeoutMs = 15_000 } = {}) {
  const proc = spawn(bin, ["-addr", addr, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...env },
  });
  let out = "";
  const exited = new Promise((resolve) => proc.on("exit", (code, signal) => resolve({ code, signal })));
  proc.stdout.setEncoding("utf8");
  proc.stderr.setEncoding("utf8");
  proc.stderr.on("data", (s) => { out += s; });

  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill("SIGKILL");
      reject(new Error(`${path.basename(bin)} did not print its URL within ${timeoutMs} ms:\n${out}`));
    }, timeoutMs);
    proc.on("error", (err) => { clearTimeout(timer); reject(err); });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`${path.basename(bin)} exited (code ${code}, signal ${signal}) before serving:\n${out}`));
    });
    let started = false;
    proc.stdout.on("data", (s) => {
      out += s;
      const m = !started && out.match(/http:\/\/(127\.0\.0\.1:(\d+))\//);
      if (!m) return;
      started = true;
      clearTimeout(timer);
      resolve({
        url: `http://${m[1]}/`,
        addr: m[1],
        port: Number(m[2]),
        /** Everything the program printed so far. */
        output: () => out,
        /**
         * Sends SIGTERM and resolves with the exit code once the program
         * exited; after timeoutMs it is killed and stop rejects.
         */
        stop: async ({ timeoutMs = 15_000 } = {}) => {
          if (proc.exitCode !== null || proc.signalCode !== null) {
            return proc.exitCode;
          }
          proc.kill("SIGTERM");
          let timer;
          const timeout = new Promise((_, rej) => {
            timer = setTimeout(() => {
              proc.kill("SIGKILL");
              rej(new Error(`${path.basename(bin)} did not exit within ${timeoutMs} ms of SIGTERM:\n${out}`));
            }, timeoutMs);
          });
          try {
            const { code } = await Promise.race([exited, timeout]);
            return code;
          } finally {
            clearTimeout(timer);
          }
        },
      });
    });
  });
}
