// selectBackend("auto") asks for a WebGPU adapter only where a hardware GPU
// may answer: asking starts a software rasteriser's threads for good, and
// `auto` would not train on it anyway.
import assert from "node:assert/strict";
import { mayHaveGpu } from "../../src/backend/select.ts";

Deno.test("mayHaveGpu(): a render node or an NVIDIA device on Linux, always elsewhere", () => {
  const fs = (dri: string[] | null, dev: string[] | null) => (dir: string) =>
    dir === "/dev/dri" ? dri : dev;
  assert.equal(mayHaveGpu("linux", fs([], ["null", "tty0", "kvm"])), false);
  assert.equal(mayHaveGpu("linux", fs(["card0", "renderD128"], ["null"])), true);
  assert.equal(mayHaveGpu("linux", fs(["card0"], ["null"])), false, "a display without render");
  assert.equal(mayHaveGpu("linux", fs([], ["nvidia0", "nvidiactl"])), true);
  assert.equal(mayHaveGpu("linux", fs([], ["nvidiactl"])), false);
  assert.equal(mayHaveGpu("linux", fs(null, ["dxg", "null"])), true, "WSL2");
  assert.equal(mayHaveGpu("linux", fs(null, null)), true, "unreadable: ask");
  assert.equal(mayHaveGpu("darwin", fs([], [])), true);
  assert.equal(mayHaveGpu("windows", fs(null, null)), true);
});
