/**
 * The error for a run's settings that cannot work as given, in a module of
 * its own: settings code that browsers load imports it without the run
 * folder's file-system code.
 *
 * @module
 */

/** A run's settings cannot work as given (a folder taken, a batch larger than the data). */
export class RunConfigError extends Error {}
