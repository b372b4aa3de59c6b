/**
 * WebGPU errors made loud. WebGPU reports a failed validation (a kernel over
 * a device limit, a bad binding), an out-of-memory or an internal error only
 * asynchronously, to an error scope or as an `uncapturederror` event, and
 * Deno prints neither; the invalid command batch is dropped, taking its
 * neighbouring kernels with it, and training went on with garbage. Here:
 *
 * - every pipeline compilation runs in its own error scope, so an error names
 *   the kernel (tfjs labels each pipeline with its program's class name);
 * - {@linkcode guardWebGPU} runs one unit of work (a training step) inside
 *   validation, out-of-memory and internal scopes and throws a
 *   {@linkcode WebGPUError} naming it;
 * - errors outside any scope are kept, and every read from the GPU checks
 *   them after its copy: no value computed after an error reaches the host,
 *   so no checkpoint or metric is written from it.
 *
 * Errors are sticky: after one, the device's results cannot be trusted, and
 * every later guard or read throws too.
 *
 * @module
 */
import type { WebGPUBackend } from "./webgpu_internals.ts";

type ErrorKind = "validation" | "out-of-memory" | "internal";

interface Captured {
  kind: ErrorKind;
  message: string;
  /** The tfjs program whose pipeline failed, when known. */
  kernel?: string;
}

/** A WebGPU error that stopped the work it happened in. */
export class WebGPUError extends Error {
  constructor(
    message: string,
    /** `validation`, `out-of-memory` or `internal`. */
    readonly kind: ErrorKind,
    /** The tfjs program (kernel) involved, when WebGPU named it. */
    readonly kernel?: string,
  ) {
    super(message);
    this.name = "WebGPUError";
  }
}

let device: GPUDevice | null = null;
const captured: Captured[] = [];
let pending: Promise<void>[] = [];

function kindOf(error: GPUError): ErrorKind {
  if (error instanceof GPUValidationError) return "validation";
  if (error instanceof GPUOutOfMemoryError) return "out-of-memory";
  return "internal";
}

/** The kernel named in a message such as "ComputePipeline with 'AddNPackedProgram' label is invalid". */
function kernelIn(message: string): string | undefined {
  return /ComputePipeline with '([^']+)' label/.exec(message)?.[1] || undefined;
}

/**
 * Start capturing the errors of `backend`'s device: compilations in their own
 * scopes, uncaptured errors and device loss kept, reads checked.
 */
export function installErrorCapture(backend: WebGPUBackend): void {
  const dev = backend.device;
  device = dev;
  dev.addEventListener("uncapturederror", (event) => {
    const error = (event as GPUUncapturedErrorEvent).error;
    captured.push({ kind: kindOf(error), message: error.message });
  });
  dev.lost.then((info) => {
    if (info.reason !== "destroyed") {
      captured.push({ kind: "internal", message: `the device was lost: ${info.message}` });
    }
  });
  const compile = dev.createComputePipeline.bind(dev);
  dev.createComputePipeline = (descriptor) => {
    dev.pushErrorScope("validation");
    const pipeline = compile(descriptor);
    pending.push(
      dev.popErrorScope().then((error) => {
        if (error) {
          captured.push({ kind: "validation", message: error.message, kernel: descriptor.label });
        }
      }),
    );
    return pipeline;
  };
  const read = backend.read.bind(backend);
  backend.read = async (dataId) => {
    const values = await read(dataId);
    await throwIfWebGPUErrors("a read from the GPU");
    return values;
  };
}

/**
 * Throw a {@linkcode WebGPUError} about `context` if the device has reported
 * an error so far (waiting for reports still on their way).
 */
export async function throwIfWebGPUErrors(context: string, consequence = ""): Promise<void> {
  if (!device) return;
  // Uncaptured errors arrive as events on a later task, compilation errors
  // as promises: let both land before looking.
  await new Promise((resolve) => setTimeout(resolve, 0));
  const waiting = pending;
  pending = [];
  await Promise.all(waiting);
  if (captured.length === 0) return;
  // The root cause first: a failed compilation names its kernel; the errors
  // after it ("ComputePipeline ... is invalid") are its consequences.
  const first = captured.find((c) => c.kernel) ?? captured[0];
  const kernel = first.kernel ?? captured.map((c) => kernelIn(c.message)).find((k) => k);
  const more = captured.length > 1 ? ` (and ${captured.length - 1} more WebGPU errors)` : "";
  const where = `${context}${kernel ? `, kernel ${kernel}` : ""}`;
  const what = first.message.trim().replace(/\.$/, "");
  throw new WebGPUError(
    `WebGPU ${first.kind} error in ${where}: ${what}${more}.${
      consequence ? ` ${consequence}` : ""
    }`,
    first.kind,
    kernel,
  );
}

/**
 * Run `work` inside validation, out-of-memory and internal error scopes and
 * throw a {@linkcode WebGPUError} naming `context` (and saying
 * `consequence`) if the device reported anything during it. Without a WebGPU
 * device (other backends) just runs it.
 */
export async function guardWebGPU<R>(
  context: string,
  work: () => Promise<R>,
  consequence = "",
): Promise<R> {
  const dev = device;
  if (!dev) return await work();
  const filters: GPUErrorFilter[] = ["internal", "out-of-memory", "validation"];
  for (const f of filters) dev.pushErrorScope(f);
  let result: R | undefined, thrown: unknown = null;
  try {
    result = await work();
  } catch (e) {
    thrown = e;
  }
  for (let i = 0; i < filters.length; i++) {
    const error = await dev.popErrorScope();
    if (error) captured.push({ kind: kindOf(error), message: error.message });
  }
  await throwIfWebGPUErrors(context, consequence);
  if (thrown) throw thrown;
  return result as R;
}
