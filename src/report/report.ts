/**
 * `report.md` of a comparison, generated from the results: a table, sentences
 * that each follow from numbers they quote, and the plots.
 *
 * @module
 */
import { CLASS_NAMES } from "../data/cifar.ts";
import type { ModelResult, PairedResult, Stat } from "./aggregate.ts";
import type { CompareResults } from "./results.ts";
import { modelLabel, modelSlug } from "./figures.ts";

const percent = (x: number, digits = 2) => `${(100 * x).toFixed(digits)}`;

function pct(s: Stat): string {
  return s.n > 1 ? `${percent(s.mean)} ± ${percent(s.std)} %` : `${percent(s.mean)} %`;
}

function points(s: Stat): string {
  return s.n > 1 ? `${percent(s.mean)} ± ${percent(s.std)}` : percent(s.mean);
}

const count = (n: number) => n.toLocaleString("en-US");

/** The summary table, in Markdown. */
export function summaryTable(r: CompareResults): string {
  const tta = r.models[0]?.tta ?? "none";
  const measured = r.models.some((m) => m.measured);
  const rows = [
    `| model | parameters | forward MFLOPs / image | epochs | training time (min) | images/s${
      measured ? " (runs) | images/s (alone)" : ""
    } | final test accuracy (${tta}) | final, one view | best epoch, one view |`,
    `|---|---:|---:|---:|---:|---:|${measured ? "---:|" : ""}---:|---:|---:|`,
  ];
  for (const m of r.models) {
    const alone = measured ? ` | ${m.measured ? m.measured.imagesPerSecond.toFixed(0) : "–"}` : "";
    rows.push(
      `| ${modelLabel(m)} | ${count(m.params)} | ${(m.flopsPerImage / 1e6).toFixed(1)} | ${
        m.epochs.mean.toFixed(1)
      } | ${(m.trainSeconds.mean / 60).toFixed(1)} | ${
        m.imagesPerSecond.mean.toFixed(0)
      }${alone} | ` +
        `${pct(m.finalTestAccuracy)} | ${pct(m.finalTestAccuracyPlain)} | ${
          pct(m.bestTestAccuracy)
        } |`,
    );
  }
  return rows.join("\n");
}

/** Per-seed table of final accuracies, so every paired difference can be checked by hand. */
export function seedTable(r: CompareResults): string {
  const seeds = [...new Set(r.models.flatMap((m) => m.seeds))].sort((a, b) => a - b);
  const rows = [
    `| model | ${seeds.map((s) => `seed ${s}`).join(" | ")} |`,
    `|---|${seeds.map(() => "---:").join("|")}|`,
  ];
  for (const m of r.models) {
    const cell = (s: number) => {
      const i = m.seeds.indexOf(s);
      return i < 0 ? "–" : `${percent(m.seedAccuracy[i])} (${percent(m.seedAccuracyPlain[i])})`;
    };
    rows.push(`| ${modelLabel(m)} | ${seeds.map(cell).join(" | ")} |`);
  }
  return rows.join("\n");
}

function byKey(r: CompareResults, key: string): ModelResult {
  return r.models.find((m) => m.key === key)!;
}

/** How sure a paired difference is, in words that follow from its numbers. */
function verdict(p: PairedResult): string {
  const n = p.seeds.length;
  if (n < 2) {
    return "With one seed the spread between runs is not measured; repeat with --seeds 3 before reading much into it.";
  }
  const agree = `${p.sameSign} of ${n} seeds agree in sign`;
  const t = Number.isFinite(p.t) ? `paired t = ${p.t.toFixed(2)}` : "paired t undefined";
  return p.significant
    ? `The difference exceeds its seed-to-seed spread (${t} > ${
      p.tCritical.toFixed(2)
    }, the two-sided 95% critical value for ${n - 1} degrees of freedom; ${agree}).`
    : `The difference does not exceed its seed-to-seed spread (${t}, below the two-sided 95% critical value ${
      p.tCritical.toFixed(2)
    } for ${n - 1} degrees of freedom; ${agree}).`;
}

function pairSentence(r: CompareResults, p: PairedResult): string {
  const a = byKey(r, p.a), b = byKey(r, p.b);
  const lead = p.difference.mean >= 0 ? a : b, trail = lead === a ? b : a;
  const gap = Math.abs(p.difference.mean);
  const sizes = `${count(a.params)} vs ${count(b.params)} parameters`;
  const intro = p.role === "matched"
    ? `Matched pair (${sizes}, ${percent(r.paramGap, 1)}% apart): `
    : `Ablation (${sizes}: the self-attention layers hold ${count(a.params - b.params)} of ${
      modelLabel(a)
    }'s parameters and ${((a.flopsPerImage - b.flopsPerImage) / 1e6).toFixed(1)} of its ${
      (a.flopsPerImage / 1e6).toFixed(1)
    } forward MFLOPs per image): `;
  return intro +
    `${modelLabel(lead)} ends ${percent(gap)} points ahead of ${modelLabel(trail)} ` +
    `(${pct(lead.finalTestAccuracy)} vs ${pct(trail.finalTestAccuracy)} with ${lead.tta} views; ` +
    `paired difference per seed ${points(p.difference)} points with views, ${
      points(p.differencePlain)
    } from one view). ${verdict(p)}`;
}

function speedSentence(r: CompareResults): string {
  const own = r.models.map((m) =>
    `${modelLabel(m)} ${m.imagesPerSecond.mean.toFixed(0)} images/s (${
      (m.flopsPerImage / 1e6).toFixed(1)
    } forward MFLOPs per image, ${(m.trainSeconds.mean / 60).toFixed(1)} training minutes)`
  );
  const measured = r.models.filter((m) => m.measured);
  if (measured.length === 0) return `Training speed on ${r.models[0].backend}: ${own.join("; ")}.`;
  const first = measured[0].measured!;
  const alone = measured.map((m) =>
    `${modelLabel(m)} ${m.measured!.imagesPerSecond.toFixed(0)} images/s (slowest to fastest step ${
      m.measured!.stepRange.map((x) => x.toFixed(0)).join("–")
    })`
  );
  const cnn = r.models.find((m) => m.model === "cnn" && m.attention)?.measured,
    vit = r.models.find((m) => m.model === "vit")?.measured;
  const ratio = cnn && vit
    ? ` The matched ViT trains at ${
      (vit.imagesPerSecond / cnn.imagesPerSecond).toFixed(2)
    }x the CNN-SA's images/s.`
    : "";
  return `Training speed measured alone after the runs on ${first.backend} (each model ${first.steps} steps at its training batch, in two interleaved rounds): ${
    alone.join("; ")
  }.${ratio} The runs' own average rates, which include whatever else the machine did while they trained: ${
    own.join("; ")
  }.`;
}

function perClassSentence(r: CompareResults): string {
  const cnn = r.models.find((m) => m.model === "cnn" && m.attention)!,
    vit = r.models.find((m) => m.model === "vit")!;
  const gaps = CLASS_NAMES.map((c, i) => ({
    c,
    i,
    d: cnn.perClassAccuracy[i] - vit.perClassAccuracy[i],
  }));
  const widest = gaps.reduce((a, b) => (Math.abs(b.d) > Math.abs(a.d) ? b : a));
  const hardest = r.models.map((m) =>
    `${CLASS_NAMES[m.perClassAccuracy.indexOf(Math.min(...m.perClassAccuracy))]} for ${
      modelLabel(m)
    }`
  );
  return `The widest per-class gap of the matched pair is on ${widest.c}: ${
    percent(cnn.perClassAccuracy[widest.i], 1)
  }% for ${modelLabel(cnn)} vs ${percent(vit.perClassAccuracy[widest.i], 1)}% for ${
    modelLabel(vit)
  }. The hardest class is ${hardest.join(", ")}.`;
}

function budgetSentences(r: CompareResults): string[] {
  return r.references.map((ref) => {
    const same = r.models.find((m) => m.key === ref.key);
    const longer = `${
      ref.stoppedBy === "minutes" ? `${(ref.trainSeconds / 60).toFixed(0)} minutes (` : ""
    }${ref.epochs} epochs${ref.stoppedBy === "minutes" ? ")" : ""}`;
    const label = `${ref.model === "vit" ? "ViT" : "CNN"} (${ref.preset})`;
    if (!same) {
      return `${label}, ${count(ref.params)} parameters, one run of ${longer}: ${
        percent(ref.testAccuracy)
      } % with ${ref.tta} views, ${
        percent(ref.testAccuracyPlain)
      } % from one view (not in this comparison's set).`;
    }
    const d = ref.testAccuracy - same.finalTestAccuracy.mean;
    return `${modelLabel(same)} goes from ${pct(same.finalTestAccuracy)} after ${
      same.epochs.mean.toFixed(0)
    } epochs (mean of ${same.seeds.length} seeds) to ${
      percent(ref.testAccuracy)
    } % in one run of ${longer}, ${d >= 0 ? "+" : ""}${percent(d)} points.`;
  });
}

/** Sentences that state what the results show (generated, never hand-written). */
export function findings(r: CompareResults): string[] {
  return [...comparisonFindings(r), ...budgetSentences(r)];
}

/** The findings about the compared runs themselves (the budget sentences have their own section). */
function comparisonFindings(r: CompareResults): string[] {
  return [...r.pairs.map((p) => pairSentence(r, p)), speedSentence(r), perClassSentence(r)];
}

/** The whole report. */
export function renderReport(r: CompareResults): string {
  const img = (name: string, alt: string) =>
    r.plots.includes(`${name}.png`) ? `![${alt}](${name}.png)` : `![${alt}](${name}.svg)`;
  const budget = r.budget === "epochs"
    ? `${r.epochs} epochs for every model`
    : `${r.minutes} training minutes for every model`;
  const confusions = r.models.map((m) =>
    img(`confusion_${modelSlug(m)}`, `${modelLabel(m)} confusion matrix`)
  );
  const references = r.references.length
    ? [
      "",
      "## Longer budgets",
      "",
      "| run | parameters | budget | final test accuracy (views) | one view |",
      "|---|---:|---|---:|---:|",
      ...r.references.map((ref) =>
        `| [${ref.dir}](${ref.dir}/) | ${count(ref.params)} | ${ref.epochs} epochs, ${
          (ref.trainSeconds / 60).toFixed(1)
        } min | ${percent(ref.testAccuracy)} % (${ref.tta}) | ${percent(ref.testAccuracyPlain)} % |`
      ),
      "",
      ...budgetSentences(r),
    ].join("\n")
    : "";
  return `# CNN with self-attention vs ViT on CIFAR-10

Budget: ${budget}; ${r.seeds} seed${
    r.seeds === 1 ? "" : "s"
  } per model (seed s gives every model the same
data order and augmentation); ${count(r.trainImages)} training and ${
    count(r.testImages)
  } test images. Accuracies are
top-1 on the test images, mean ± sample standard deviation over seeds; "final" is after the last
epoch, with test-time augmentation (${r.models[0].tta}) and from one view; "best epoch" is the best
per-epoch (one-view) evaluation. Training time excludes evaluation.

${summaryTable(r)}

## Findings

${comparisonFindings(r).map((s) => `- ${s}`).join("\n")}

## Per seed

Final test accuracy with views (one view in brackets), %:

${seedTable(r)}
${references}

## Curves

${img("accuracy_vs_epoch", "Test accuracy by epoch")} ${
    img("loss_vs_epoch", "Training loss by epoch")
  }

${img("accuracy_vs_time", "Test accuracy by training time")} ${
    img("loss_vs_time", "Training loss by training time")
  }

## Per class

${img("per_class_accuracy", "Per-class test accuracy")}

${confusions.join(" ")}

## Attention

${img("attention_maps", "Attention maps")}
`;
}
