/**
 * Reading /proc from permission-restricted processes.
 *
 * @module
 */
export { findProcessesByName, readProcFile, signalProcess } from "./read.ts";
