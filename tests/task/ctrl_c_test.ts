// One Ctrl-C stops a run cleanly, also under `deno task`. A terminal sends
// SIGINT to its whole foreground process group, so `deno task` and the task's
// process both get it, and `deno task` forwards what it gets to its child
// (twice, in Deno 2.9): one key press reaches the task's process as up to
// three SIGINTs. Only a second press, a moment later, may quit at once.
import assert from "node:assert/strict";
import { join } from "node:path";
import { REPEAT_GRACE_MS } from "../../src/cli/interrupt.ts";
import { readCheckpoint } from "../../src/train/checkpoint.ts";
import { exists } from "../../src/core/exists.ts";
import { ROOT } from "../_tasks.ts";

const ignore = Deno.build.os === "windows"; // no process groups, no SIGINT to send

/** A command started as a terminal starts a job: in a process group of its own. */
function spawnJob(args: string[], cwd: string) {
  // `deno task` keeps an INIT_CWD it inherits, and `deno task test` sets one.
  const { INIT_CWD: _, ...env } = Deno.env.toObject();
  const child = new Deno.Command(Deno.execPath(), {
    args,
    cwd,
    env,
    clearEnv: true,
    detached: true, // a new session: its process group is its pid
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = child.output().then((o) => ({
    code: o.code,
    stdout: new TextDecoder().decode(o.stdout),
    stderr: new TextDecoder().decode(o.stderr),
  }));
  let exited = false;
  output.finally(() => exited = true).catch(() => {});
  return {
    output,
    exited: () => exited,
    /** What a terminal sends for Ctrl-C: `signal` to every process in the job's group. */
    signalGroup(signal: Deno.Signal) {
      Deno.kill(-child.pid, signal);
    },
    /** Whatever is left of the group, killed (a failed test leaves no run behind). */
    async kill() {
      try {
        Deno.kill(-child.pid, "SIGKILL");
      } catch { /* the group is gone */ }
      await output.catch(() => {});
    },
  };
}

type Job = ReturnType<typeof spawnJob>;

async function untilExists(path: string, job: Job) {
  for (let waited = 0; !(await exists(path)); waited += 25) {
    if (job.exited()) {
      const { code, stderr } = await job.output;
      assert.fail(`it exited (${code}) before ${path} appeared:\n${stderr}`);
    }
    if (waited > 60_000) assert.fail(`${path} did not appear in a minute`);
    await delay(25);
  }
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `deno task` with the project's configuration. */
const TASK = ["task", "--quiet", "--config", join(ROOT, "deno.json")];

/**
 * A run of two threads (where the main thread waits on its worker, so the
 * event loop turns often) that checkpoints every 0.6 s (file writes: more
 * turns); 48 steps of 8 images, a few seconds long.
 */
const RUN = [
  ...["--preset", "tiny", "--data", "sample", "--epochs", "1", "--train-size", "384"],
  ...["--test-size", "20", "--batch-size", "8", "--threads", "2", "--tta", "none"],
  ...["--checkpoint-minutes", "0.01"],
];

Deno.test({
  name: "deno task train:vit: one Ctrl-C to its process group stops cleanly; --resume continues",
  ignore,
}, async (t) => {
  // The signal at several points of the run: early steps, between checkpoints, later steps.
  for (const after of [100, 400, 800]) {
    await t.step(`Ctrl-C ${after} ms after the run claimed its folder`, async () => {
      const dir = await Deno.makeTempDir(), out = join(dir, "run");
      const job = spawnJob([...TASK, "train:vit", ...RUN, "--out", out], ROOT);
      try {
        await untilExists(join(out, "config.json"), job);
        await delay(after);
        job.signalGroup("SIGINT");
        const { code, stderr } = await job.output;
        assert.equal(code, 130, stderr);
        assert.match(stderr, /stopping after the step under way/);
        assert.doesNotMatch(stderr, /stopped at once/);
        assert.equal(stderr.match(/stopping after the step under way/g)?.length, 1, stderr);
        assert.match(stderr, /continue with: deno task train:vit --resume /);
        assert.ok(!(await exists(join(out, "train.lock"))), "the run's lock is released");
        const run = (await readCheckpoint(join(out, "checkpoint.safetensors"))).header.run;
        assert.equal(run.epoch, 0, JSON.stringify(run));
        assert.ok(run.partial !== undefined && run.partial.step <= 48, JSON.stringify(run));
      } finally {
        await job.kill();
      }
      const resumed = await new Deno.Command(Deno.execPath(), {
        args: [...TASK, "train:vit", "--resume", out],
        cwd: ROOT,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(resumed.stderr);
      assert.equal(resumed.code, 0, stderr);
      const summary = JSON.parse(new TextDecoder().decode(resumed.stdout));
      assert.equal(summary.epochs, 1);
      assert.equal(summary.steps, 48);
      assert.ok(!(await exists(join(out, "train.lock"))));
      await Deno.remove(dir, { recursive: true });
    });
  }
});

/**
 * `deno task` running tests/_stop_child.ts (which stops as the training tasks
 * do, then lingers `lingerMs` with an idle event loop), in a job of its own.
 */
async function stopChildJob(lingerMs: number, viaTask: boolean) {
  const dir = await Deno.makeTempDir();
  const ready = join(dir, "ready");
  const run = ["run", `--allow-write=${dir}`, join(ROOT, "tests", "_stop_child.ts")];
  let args = [...run, ready, String(lingerMs)];
  if (viaTask) {
    // A configuration of its own, with the one task.
    const command = [run.at(-1)!, ready, String(lingerMs)].map((a) => JSON.stringify(a));
    const task = `deno run --allow-write=${JSON.stringify(dir)} ${command.join(" ")}`;
    await Deno.writeTextFile(join(dir, "deno.json"), JSON.stringify({ tasks: { stop: task } }));
    args = ["task", "--quiet", "--config", join(dir, "deno.json"), "stop"];
  }
  const job = spawnJob(args, dir);
  try {
    await untilExists(ready, job);
  } catch (e) {
    await job.kill();
    throw e;
  }
  return { job, dir };
}

Deno.test({
  name: "Ctrl-C to `deno task`'s process group is one stop, however many copies arrive",
  ignore,
}, async () => {
  // The child's event loop is idle, so each copy of the signal is handled on
  // its own (with one listener counting, 10 of 10 tries saw two or more).
  const { job, dir } = await stopChildJob(REPEAT_GRACE_MS + 1000, true);
  try {
    job.signalGroup("SIGINT");
    const { code, stderr } = await job.output;
    assert.match(stderr, /stopped cleanly/);
    assert.doesNotMatch(stderr, /stopped at once/);
    assert.equal(stderr.match(/stopping after the step under way/g)?.length, 1, stderr);
    assert.equal(code, 130, stderr);
  } finally {
    await job.kill();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "a second Ctrl-C a second after the first quits at once, also under `deno task`",
  ignore,
}, async () => {
  const { job, dir } = await stopChildJob(30_000, true);
  try {
    job.signalGroup("SIGINT");
    await delay(REPEAT_GRACE_MS + 500);
    job.signalGroup("SIGINT");
    const { code, stderr } = await job.output;
    assert.match(stderr, /stopping after the step under way/);
    assert.match(stderr, /stopped at once; the work since the last checkpoint is lost/);
    assert.doesNotMatch(stderr, /stopped cleanly/);
    assert.equal(code, 130, stderr);
  } finally {
    await job.kill();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "SIGTERM, then another a second later, ends it at once with status 143",
  ignore,
}, async () => {
  const { job, dir } = await stopChildJob(30_000, false);
  try {
    job.signalGroup("SIGTERM");
    await delay(REPEAT_GRACE_MS + 500);
    job.signalGroup("SIGTERM");
    const { code, stderr } = await job.output;
    assert.match(stderr, /stopped at once/);
    assert.equal(code, 143, stderr);
  } finally {
    await job.kill();
    await Deno.remove(dir, { recursive: true });
  }
});
