/**
 * Host text as it appears in URLs, `host:port` pairs, Deno permissions and `Deno.listen`:
 * the one place that adds or strips IPv6 brackets and decides "is this loopback".
 *
 * @module
 */
import { isLoopbackIp, parseIp } from "./ip.ts";

/** `host` as it goes in a URL or a `host:port` pair: IPv6 literals in brackets. */
export function bracketHost(host: string): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}

/** `host` as `Deno.listen`/`Deno.connect` want it: IPv6 literals without brackets. */
export function unbracketHost(host: string): string {
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}

/** `host:port` with IPv6 bracketed: the form URLs and Deno's net permissions compare. */
export function joinHostPort(host: string, port: number): string {
  return `${bracketHost(host)}:${port}`;
}

/**
 * True for `localhost`, 127.0.0.0/8 and ::1 (bracketed or not). Other names are not resolved:
 * a name that only resolves to loopback today may not tomorrow.
 */
export function isLoopbackHost(host: string): boolean {
  const bare = unbracketHost(host);
  if (bare.toLowerCase() === "localhost") return true;
  const ip = parseIp(bare);
  return ip !== undefined && isLoopbackIp(ip);
}
