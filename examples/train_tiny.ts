import { evaluate, imageBatch, initTrainState, modelSpec } from "@vision-attention/sa";
import { Rng, trainStep } from "@vision-attention/sa";
import { selectBackend } from "@vision-attention/sa/backend";
import { loadCifar10 } from "@vision-attention/sa/data";

await selectBackend("auto"); // WebGPU on a GPU, else the fast CPU path
const data = await loadCifar10("data/sample/cifar-10-batches-bin");
const model = modelSpec("cnn", "tiny"), rng = new Rng(0), batchSize = 50;
let state = initTrainState(model, rng);
for (let epoch = 1; epoch <= 3; epoch++) {
  const order = rng.permutation(data.train.size);
  let loss = 0;
  for (let s = 0; s + batchSize <= order.length; s += batchSize) {
    using batch = imageBatch(data.train, order.subarray(s, s + batchSize), rng);
    const r = await trainStep(model, state, batch, { lr: 2e-3, labelSmoothing: 0.1, rng });
    [state, loss] = [r.state, loss + r.loss / (order.length / batchSize)];
  }
  const { accuracy } = await evaluate(model, state.params, data.test, { calibrateOn: data.train });
  console.log(`epoch ${epoch}: loss ${loss.toFixed(3)}, test accuracy ${accuracy}`);
}
