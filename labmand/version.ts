/** labman version, sent at registration and shown by `labman --version`. */
export const LABMAN_VERSION = "0.1.0";
