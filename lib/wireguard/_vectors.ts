/** Test helper: loads a hand-written netlink vector from tests/vectors/netlink. */
export interface Vector {
  description: string;
  hex: string;
  reply_hex?: string;
  // deno-lint-ignore no-explicit-any -- each vector has its own expectation shape
  expect?: any;
}

export function loadVector(file: string): Vector {
  const url = new URL(`../../tests/vectors/netlink/${file}`, import.meta.url);
  return JSON.parse(Deno.readTextFileSync(url));
}

export function hexBytes(hex: string): Uint8Array {
  const clean = hex.replace(/\s+/g, "");
  if (!/^([0-9a-f]{2})*$/.test(clean)) {
    throw new SyntaxError(`Cannot parse vector hex: ${hex.slice(0, 40)}`);
  }
  return Uint8Array.from(clean.match(/../g) ?? [], (b) => parseInt(b, 16));
}

export function toHex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}
