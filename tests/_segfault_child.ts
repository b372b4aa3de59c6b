// A process that crashes on purpose, for the crash-report test: it calls a
// native function at address 8, which the kernel answers with SIGSEGV.
const nowhere = Deno.UnsafePointer.create(8n);
new Deno.UnsafeFnPointer(nowhere!, { parameters: [], result: "void" }).call();
