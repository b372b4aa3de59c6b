/**
 * Attention maps for people to look at: the ViT's class-token attention over
 * patches (per layer, and rolled out across layers; Abnar & Zuidema 2020),
 * and the CNN's self-attention for one query position. Both read their maps
 * back asynchronously: a synchronous read cannot reach a GPU in Deno.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Images } from "../core/tensor.ts";
import { cnnAttentionMaps, type CNNConfig, type CNNParams } from "../models/cnn.ts";
import { numPatches, vitAttentionMaps, type ViTConfig, type ViTParams } from "../models/vit.ts";

/** A 2-D grid of non-negative weights. */
export type Grid = number[][];

function toGrid(values: ArrayLike<number>, side: number): Grid {
  return Array.from(
    { length: side },
    (_, y) => Array.from({ length: side }, (_, x) => values[y * side + x]),
  );
}

/**
 * For image `index` of `images`: the class token's attention to each patch,
 * averaged over heads, per layer; and the rollout, the product over layers
 * of `(A + I) / 2` (heads averaged, rows renormalised), read at the class row.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { brand, initViT, Rng, vitClassAttention, VIT_PRESETS } from "@vision-attention/sa";
 * const config = VIT_PRESETS.tiny; // 4x4 patches of a 32x32 image: an 8x8 grid
 * const images = brand(tf.zeros([1, 32, 32, 3]), ["batch", "height", "width", "channels"]);
 * const { layers, rollout } = await vitClassAttention(initViT(new Rng(0), config), images, config);
 * console.assert(layers.length === config.depth && rollout.length === 8 && rollout[0].length === 8);
 * ```
 */
export async function vitClassAttention(
  params: ViTParams,
  images: Images,
  config: ViTConfig,
  index = 0,
): Promise<{ layers: Grid[]; rollout: Grid }> {
  const maps = vitAttentionMaps(params, images, config);
  const side = Math.sqrt(numPatches(config));
  const rows = tf.tidy(() => {
    const perLayer = maps.map((m) =>
      tf.mean(m.slice([index, 0, 0, 0], [1, -1, -1, -1]), 1).squeeze([0])
    ); // (T, T)
    const t = perLayer[0].shape[0];
    let rollout = tf.eye(t);
    for (const a of perLayer) {
      const mixed = tf.div(tf.add(a, tf.eye(t)), 2);
      rollout = tf.matMul(tf.div(mixed, tf.sum(mixed, -1, true)), rollout);
    }
    // The class row over the patches, per layer then rolled out: (L + 1, N)
    return tf.concat([...perLayer, rollout].map((a) => a.slice([0, 1], [1, -1])));
  });
  tf.dispose(maps);
  const values = await rows.data(), n = side * side;
  rows.dispose();
  const grids = Array.from(
    { length: values.length / n },
    (_, l) => toGrid(values.subarray(l * n, (l + 1) * n), side),
  );
  return { layers: grids.slice(0, -1), rollout: grids[grids.length - 1] };
}

/**
 * For image `index`: the attention of the first attending stage (or `stage`)
 * from the query position `query` (default: the centre) over all positions.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { brand, CNN_PRESETS, cnnQueryAttention, initCNN, Rng } from "@vision-attention/sa";
 * const config = CNN_PRESETS.tiny;
 * const images = brand(tf.zeros([1, 32, 32, 3]), ["batch", "height", "width", "channels"]);
 * const params = initCNN(new Rng(0), config);
 * const { size, map } = await cnnQueryAttention(params, images, config, { query: [0, 0] });
 * console.assert(map.length === size); // from the top-left position to every position
 * ```
 */
export async function cnnQueryAttention(
  params: CNNParams,
  images: Images,
  config: CNNConfig,
  options: { index?: number; stage?: number; query?: [number, number] } = {},
): Promise<{ stage: number; size: number; query: [number, number]; map: Grid }> {
  const maps = cnnAttentionMaps(params, images, config);
  try {
    const chosen = options.stage === undefined
      ? maps[0]
      : maps.find((m) => m.stage === options.stage);
    if (!chosen) throw new Error(`The CNN has no attention at stage ${options.stage}`);
    const size = chosen.size;
    const query = options.query ?? [Math.floor(size / 2), Math.floor(size / 2)];
    const q = query[0] * size + query[1];
    const row = tf.tidy(() =>
      tf.mean(chosen.weights.slice([options.index ?? 0, 0, q, 0], [1, -1, 1, -1]), 1)
    );
    const map = await row.data();
    row.dispose();
    return { stage: chosen.stage, size, query, map: toGrid(map, size) };
  } finally {
    tf.dispose(maps.map((m) => m.weights));
  }
}
