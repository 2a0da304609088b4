/**
 * A free loopback TCP port (bind port 0, read it, release it), for development setups that must
 * write a port into a config before the listener starts.
 *
 * @module
 */
export function freePortSync(hostname = "127.0.0.1"): number {
  const l = Deno.listen({ hostname, port: 0 });
  const { port } = l.addr as Deno.NetAddr;
  l.close();
  return port;
}
