// One UpstreamClient contract (./_upstream_contract.ts) against both clients.
import { UPSTREAM_CONTRACT } from "./_upstream_contract.ts";
import { FetchUpstreamClient } from "./fetch_upstream_client.ts";
import { UpstreamPool } from "./upstream_pool.ts";

for (const c of UPSTREAM_CONTRACT) {
  Deno.test(`UpstreamPool contract: ${c.name}`, () =>
    c.run((origin, options) => new UpstreamPool(origin, options)));
  Deno.test(`FetchUpstreamClient contract: ${c.name}`, () =>
    c.run((_origin, options) => new FetchUpstreamClient(options)));
}
