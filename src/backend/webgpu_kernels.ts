/**
 * Kernels and patches the WebGPU backend gets on top of stock
 * tfjs-backend-webgpu:
 *
 * - `AddN` that stays within the device's storage-buffer limit. Stock AddN
 *   binds one storage buffer per input, so with 8 or more inputs (WebGPU's
 *   default limit is 8 per shader stage, one of them the output) its pipeline
 *   fails validation, and the whole command batch with it. Ours sums at most
 *   `limit - 1` inputs per dispatch and adds the partial sums. (Concat, and
 *   Pack through it, already split like this; every other kernel the models
 *   use binds at most 5 buffers.)
 * - `readSync` that says what to do: tfjs reads synchronously through a
 *   canvas, which Deno does not have (it failed with "clearRect of null").
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { TensorInfo, WebGPUBackend } from "./webgpu_internals.ts";

/** Stock AddN in chunks of at most `limit - 1` inputs, then the chunks' sums. */
function limitSafeAddN(stock: tf.KernelFunc): tf.KernelFunc {
  const addN: tf.KernelFunc = ({ inputs, backend, attrs }) => {
    const list = Array.from(inputs as unknown as ArrayLike<TensorInfo>);
    const most = (backend as WebGPUBackend).device.limits.maxStorageBuffersPerShaderStage - 1;
    if (list.length <= most) return stock({ inputs, backend, attrs });
    const partials: TensorInfo[] = [];
    for (let i = 0; i < list.length; i += most) {
      const chunk = list.slice(i, i + most) as unknown as tf.NamedTensorInfoMap;
      partials.push(addN({ inputs: chunk, backend, attrs }) as TensorInfo);
    }
    const sum = addN({ inputs: partials as unknown as tf.NamedTensorInfoMap, backend, attrs });
    for (const p of partials) (backend as WebGPUBackend).disposeData(p.dataId);
    return sum;
  };
  return addN;
}

let installed = false;

/** Register the kernels above for the `webgpu` backend (once). */
export function installWebGPUKernels(): void {
  if (installed) return;
  installed = true;
  const stockAddN = tf.getKernel("AddN", "webgpu")!.kernelFunc;
  tf.unregisterKernel("AddN", "webgpu");
  tf.registerKernel({
    kernelName: "AddN",
    backendName: "webgpu",
    kernelFunc: limitSafeAddN(stockAddN),
  });
}

/** Make synchronous reads of GPU data fail with advice instead of deep in tfjs. */
export function guardSyncReads(backend: WebGPUBackend): void {
  const readSync = backend.readSync.bind(backend);
  backend.readSync = (dataId) => {
    if (backend.tensorMap.get(dataId)?.values != null) return readSync(dataId); // already on the host
    throw new Error(
      "Synchronous reads (dataSync, arraySync, bufferSync) of GPU tensors do not work on the " +
        "webgpu backend in Deno (tfjs reads them through a canvas); use await tensor.data()",
    );
  };
}
