/**
 * Imported for its effect: tfjs's cpu backend greets the first tensor it
 * stores, wherever tfjs believes it runs in Node (Deno counts), with "Hi,
 * looks like you are running TensorFlow.js in Node.js ... install our node
 * backend" on stderr: advice a Deno user cannot take, printed into their
 * program's output by merely using this library. This marks the greeting as
 * given on every cpu backend tfjs creates; tfjs's other warnings stay (the
 * `PROD` flag would silence them all). Browsers never get the greeting, and
 * a tfjs without the field (another version) is left as it is.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

if (tf.env().getBool("IS_NODE")) {
  // tfjs makes a new backend from the registered factory each time it starts
  // one, so the factory is wrapped; nothing is created before tfjs asks.
  const entry = tf.engine().registryFactory["cpu"];
  if (entry) {
    const make = entry.factory;
    entry.factory = () => {
      const backend = make();
      const greeting = backend as { firstUse?: unknown };
      if (typeof greeting.firstUse === "boolean") greeting.firstUse = false;
      return backend;
    };
  }
}
