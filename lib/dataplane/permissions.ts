/**
 * The data plane's Deno permission set, derived from config (design §3): it may bind exactly
 * the proxy address and connect exactly to the configured endpoints — nothing else.
 *
 * @module
 */
import { joinHostPort } from "../net/mod.ts";

/** `host:port` as Deno's net permission compares it (text, with brackets for IPv6). */
export function endpointNetEntry(baseUrl: string): string {
  const url = new URL(baseUrl);
  const port = url.port || (url.protocol === "https:" ? "443" : "80");
  // URL keeps IPv6 hosts bracketed, which is the form Deno's permission parser wants.
  return `${url.hostname}:${port}`;
}

export function bindNetEntry(hostname: string, port: number): string {
  return joinHostPort(hostname, port);
}

/**
 * Permissions for `new Worker(…, { deno: { permissions } })`. Every permission not listed in
 * `net` is denied outright; `import` stays off so no remote code can be loaded at run time.
 */
export function dataPlanePermissions(
  bind: { hostname: string; port: number },
  endpointBaseUrls: readonly string[],
): Deno.PermissionOptionsObject {
  const net = [bindNetEntry(bind.hostname, bind.port)];
  for (const url of endpointBaseUrls) {
    const entry = endpointNetEntry(url);
    if (!net.includes(entry)) net.push(entry);
  }
  return {
    net,
    read: false,
    write: false,
    run: false,
    env: false,
    ffi: false,
    sys: false,
    import: false,
  };
}
