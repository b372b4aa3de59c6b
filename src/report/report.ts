/**
 * `report.md` of a comparison, generated from the results: a table, a few
 * sentences that say what the numbers show, and the plots.
 *
 * @module
 */
import { CLASS_NAMES } from "../data/cifar.ts";
import type { CompareResults, ModelResult, Stat } from "./compare.ts";

const LABEL = { cnn: "CNN-SA", vit: "ViT" } as const;

function pct(s: Stat): string {
  return s.n > 1
    ? `${(100 * s.mean).toFixed(2)} ± ${(100 * s.std).toFixed(2)} %`
    : `${(100 * s.mean).toFixed(2)} %`;
}

/** The summary table, in Markdown. */
export function summaryTable(r: CompareResults): string {
  const rows = [
    "| model | parameters | forward MFLOPs / image | training time (min) | images/s | backend | final test accuracy | best test accuracy |",
    "|---|---:|---:|---:|---:|---|---:|---:|",
  ];
  for (const m of r.models) {
    rows.push(
      `| ${LABEL[m.model]} (${m.preset}) | ${m.params.toLocaleString("en-US")} | ${
        (m.flopsPerImage / 1e6).toFixed(1)
      } | ` +
        `${(m.trainSeconds.mean / 60).toFixed(1)} | ${
          m.imagesPerSecond.mean.toFixed(0)
        } | ${m.backend} | ` +
        `${pct(m.finalTestAccuracy)} | ${pct(m.bestTestAccuracy)} |`,
    );
  }
  return rows.join("\n");
}

/** Sentences that state what the results show (generated, never hand-written). */
export function findings(r: CompareResults): string[] {
  const [cnn, vit] = ["cnn", "vit"].map((k) => r.models.find((m) => m.model === k)!) as [
    ModelResult,
    ModelResult,
  ];
  const out: string[] = [];
  const gap = 100 * (cnn.finalTestAccuracy.mean - vit.finalTestAccuracy.mean);
  const leader = gap >= 0 ? cnn : vit, trailer = gap >= 0 ? vit : cnn;
  const noise = 2 * Math.max(cnn.finalTestAccuracy.std, vit.finalTestAccuracy.std) * 100;
  let confidence: string;
  if (r.seeds < 2) {
    confidence =
      "With one seed per model the spread between runs is not measured; repeat with --seeds 3 before reading much into a small gap.";
  } else if (Math.abs(gap) > noise) {
    confidence = `The gap is larger than twice the larger seed-to-seed standard deviation (${
      noise.toFixed(2)
    } points).`;
  } else {confidence = `The gap is within twice the seed-to-seed standard deviation (${
      noise.toFixed(2)
    } points): not a clear difference.`;}
  out.push(
    `At ${cnn.params.toLocaleString("en-US")} vs ${
      vit.params.toLocaleString("en-US")
    } parameters (${(100 * r.paramGap).toFixed(1)}% apart), ` +
      `trained on the same ${r.trainImages.toLocaleString("en-US")} images and tested on ${
        r.testImages.toLocaleString("en-US")
      }, ` +
      `${LABEL[leader.model]} ends ${Math.abs(gap).toFixed(2)} points ahead of ${
        LABEL[trailer.model]
      } in final test accuracy ` +
      `(${pct(leader.finalTestAccuracy)} vs ${pct(trailer.finalTestAccuracy)}). ${confidence}`,
  );
  const faster = cnn.imagesPerSecond.mean >= vit.imagesPerSecond.mean ? cnn : vit;
  const slower = faster === cnn ? vit : cnn;
  out.push(
    `${LABEL[faster.model]} trains ${
      (faster.imagesPerSecond.mean / slower.imagesPerSecond.mean).toFixed(2)
    }x as fast ` +
      `(${faster.imagesPerSecond.mean.toFixed(0)} vs ${
        slower.imagesPerSecond.mean.toFixed(0)
      } images/s); a forward pass costs ` +
      `${(cnn.flopsPerImage / 1e6).toFixed(1)} MFLOPs per image for CNN-SA and ${
        (vit.flopsPerImage / 1e6).toFixed(1)
      } for the ViT.`,
  );
  const gaps = CLASS_NAMES.map((c, i) => ({
    c,
    d: cnn.perClassAccuracy[i] - vit.perClassAccuracy[i],
    i,
  }));
  const widest = gaps.reduce((a, b) => (Math.abs(b.d) > Math.abs(a.d) ? b : a));
  const hardest = (m: ModelResult) =>
    CLASS_NAMES[m.perClassAccuracy.indexOf(Math.min(...m.perClassAccuracy))];
  out.push(
    `The widest per-class gap is on ${widest.c}: ${
      (100 * cnn.perClassAccuracy[widest.i]).toFixed(1)
    }% for CNN-SA vs ` +
      `${(100 * vit.perClassAccuracy[widest.i]).toFixed(1)}% for the ViT. The hardest class is ${
        hardest(cnn)
      } for CNN-SA and ${hardest(vit)} for the ViT.`,
  );
  return out;
}

/** The whole report. */
export function renderReport(r: CompareResults): string {
  const img = (
    name: string,
    alt: string,
  ) => (r.plots.includes(`${name}.png`) ? `![${alt}](${name}.png)` : `![${alt}](${name}.svg)`);
  return `# CNN with self-attention vs ViT on CIFAR-10

${summaryTable(r)}

${findings(r).join("\n\n")}

Seeds per model: ${r.seeds}. Accuracies are top-1 on the test images; "final" is after the last epoch, "best" the best epoch.
Training time excludes evaluation.

## Curves

${img("accuracy_vs_epoch", "Test accuracy by epoch")} ${
    img("loss_vs_epoch", "Training loss by epoch")
  }

${img("accuracy_vs_time", "Test accuracy by training time")} ${
    img("loss_vs_time", "Training loss by training time")
  }

## Per class

${img("per_class_accuracy", "Per-class test accuracy")}

${img("confusion_cnn", "CNN-SA confusion matrix")} ${img("confusion_vit", "ViT confusion matrix")}

## Attention

${img("attention_maps", "Attention maps")}
`;
}
