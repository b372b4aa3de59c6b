/**
 * CIFAR-10 from disk: the official binary layout (`data_batch_1.bin` ..
 * `data_batch_5.bin`, `test_batch.bin`) read from a folder. The record
 * layout itself (`parseBatch`, `CLASS_NAMES`, `fillBatch`) is
 * platform-neutral and lives in the root entry.
 *
 * @example Load the first 100 test images of a copy (here the repository's sample)
 * ```ts
 * import { loadCifar10 } from "@vision-attention/sa/data";
 * const { test } = await loadCifar10("data/sample", { trainSize: 1, testSize: 100 });
 * console.assert(test.size === 100 && test.images.length === 100 * 3072);
 * ```
 *
 * @module
 */
export * from "../data/cifar.ts";
