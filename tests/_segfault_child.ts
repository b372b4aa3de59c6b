// A process that crashes on purpose, for the crash-report test: it calls a
// native function at address 8, which the kernel answers with SIGSEGV.
const definition = { parameters: [], result: "void" } as const;
const nowhere = Deno.UnsafePointer.create<typeof definition>(8n);
if (nowhere === null) throw new Error("UnsafePointer.create(8n) gave null");
new Deno.UnsafeFnPointer(nowhere, definition).call();
