import { CLASS_NAMES, classify, imageBatch, loadPretrained } from "@vision-attention/sa";
import { selectBackend } from "@vision-attention/sa/backend";
import { loadCifar10 } from "@vision-attention/sa/data";

await selectBackend("auto");
const { test } = await loadCifar10("data/sample/cifar-10-batches-bin");
const { spec, params } = await loadPretrained("cnn-hour");
using batch = imageBatch(test, [0], null); // the first test image, as it is
const [label] = await classify(spec, params, batch.images);
console.log(`test image 0: ${CLASS_NAMES[label]} (labelled ${CLASS_NAMES[test.labels[0]]})`);
