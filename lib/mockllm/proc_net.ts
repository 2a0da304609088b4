/**
 * Counting a server's open TCP connections from `/proc/net/tcp{,6}`, because `Deno.serve`
 * exposes no connection events.
 *
 * @module
 */

const ESTABLISHED = "01";

/**
 * Counts ESTABLISHED sockets whose local port is `port` in the text of `/proc/net/tcp` or
 * `/proc/net/tcp6`. Client sockets connecting *to* that port have it as the remote port
 * and are not counted.
 */
export function countEstablished(procNetTcp: string, port: number): number {
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  let n = 0;
  for (const line of procNetTcp.split("\n")) {
    const fields = line.trim().split(/\s+/);
    // fields: sl, local_address, rem_address, st, …; the header line has "local_address".
    if (fields.length < 4 || fields[3] !== ESTABLISHED) continue;
    const local = fields[1];
    if (local.slice(local.lastIndexOf(":") + 1) === hexPort) n++;
  }
  return n;
}

/** Open connections to `port` on this host's network namespace, or null when unreadable. */
export function openConnectionsOn(port: number): number | null {
  let total = 0;
  let readAny = false;
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    try {
      total += countEstablished(Deno.readTextFileSync(file), port);
      readAny = true;
    } catch {
      // No /proc (not Linux) or no read permission (narrowed worker): unknown, not zero.
    }
  }
  return readAny ? total : null;
}
