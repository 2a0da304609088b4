/**
 * Reading /proc from permission-restricted processes.
 *
 * @module
 */
export { findProcessesByName, readProcFile } from "./read.ts";
