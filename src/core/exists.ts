/**
 * Whether a path exists, for the Deno-side file code (loader, extractor,
 * comparison). Other errors (a permission denied, say) are not "no".
 *
 * @module
 */

/** True when `path` exists; false when it does not; throws on any other error. */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}
