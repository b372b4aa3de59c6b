#!/usr/bin/env bash
# WebGPU on a real GPU: run on a machine with a GPU (e.g. a lent device
# machine), from the repository root. Uses the deno on PATH, else installs
# deno@2.9.6 from npm; then benchmarks the webgpu and fast paths and writes
# the JSON to ${OUT:-.}/bench-gpu.json.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v deno >/dev/null 2>&1; then npm install -g deno@2.9.6; fi
deno --version | head -n1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || true
deno install
# The adapter as the backend line names it (name, API, software or not).
deno eval 'import { describeAdapter, requestAdapter } from "./src/backend/select.ts";
const a = await requestAdapter(); console.log("adapter:", a ? describeAdapter(a) : "none")' || true
deno task bench --paths webgpu,fast --presets small,base --json | tee "${OUT:-.}/bench-gpu.json"
