/**
 * Decisions behind `labman pre` and `labman doctor`, kept pure: which WireGuard pieces the
 * configured mode needs, and what a directory's or tool's state means as a {@link Check}.
 *
 * @module
 */
import { type Check, check } from "./checklist.ts";
import { octal } from "./install_plan.ts";

export type WireGuardMode = "auto" | "kernel" | "userspace" | "off";

export interface KernelWireGuard {
  /** `/sys/module/wireguard` exists. */
  loaded: boolean;
  /** `modprobe -n wireguard` succeeded (the module could be loaded). */
  loadable: boolean;
}

/** What the tunnel needs on this host, given the mode and the kernel module. */
export interface WireGuardNeeds {
  /** wireguard-go: required, or only a fallback when the kernel module can still be loaded. */
  wireguardGo: "required" | "fallback" | "no";
  /** `/dev/net/tun` (for wireguard-go). */
  tun: boolean;
  /** The kernel module is required (mode "kernel"). */
  kernel: boolean;
}

export function wireguardNeeds(mode: WireGuardMode, kernel: KernelWireGuard): WireGuardNeeds {
  switch (mode) {
    case "off":
      return { wireguardGo: "no", tun: false, kernel: false };
    case "kernel":
      return { wireguardGo: "no", tun: false, kernel: true };
    case "userspace":
      return { wireguardGo: "required", tun: true, kernel: false };
    case "auto":
      if (kernel.loaded) return { wireguardGo: "no", tun: false, kernel: false };
      return {
        wireguardGo: kernel.loadable ? "fallback" : "required",
        tun: !kernel.loadable,
        kernel: false,
      };
  }
}

/**
 * A directory holding secrets: others must have no access (✗ with the chmod to run), group
 * access is a warning. `mode` is null when the directory is missing.
 */
export function keyDirCheck(label: string, path: string, mode: number | null): Check {
  if (mode === null) return check("ok", label, `${path} does not exist yet (created on keygen)`);
  const perms = mode & 0o777;
  if ((perms & 0o007) !== 0) {
    return check(
      "fail",
      label,
      `${path} has mode ${octal(perms)}: other users can reach the keys in it`,
      `run: chmod 700 ${path}`,
    );
  }
  if ((perms & 0o070) !== 0) {
    return check(
      "warn",
      label,
      `${path} has mode ${octal(perms)}: group can reach the keys`,
      `run: chmod 700 ${path}`,
    );
  }
  return check("ok", label, `${path} (${octal(perms)})`);
}

/** The kernel module, judged for the mode. */
export function kernelCheck(mode: WireGuardMode, kernel: KernelWireGuard): Check {
  const label = "kernel WireGuard module";
  if (kernel.loaded) return check("ok", label, "loaded");
  const loadFix =
    "run: modprobe wireguard; to load it at boot: echo wireguard > /etc/modules-load.d/wireguard.conf";
  if (kernel.loadable) {
    return check(
      mode === "kernel" ? "warn" : "ok",
      label,
      "available, not loaded (loaded on first use)",
      loadFix,
    );
  }
  const detail = "not available (no /sys/module/wireguard; modprobe -n wireguard failed)";
  if (mode === "kernel") {
    return check(
      "fail",
      label,
      detail,
      'set wireguard.mode = "userspace" (needs wireguard-go), or boot a kernel with WireGuard (5.6+)',
    );
  }
  return check("ok", label, `${detail}; ${mode === "off" ? "not needed" : "userspace is used"}`);
}

export function wireguardGoCheck(
  needs: WireGuardNeeds,
  configured: string,
  found: string | null,
): Check {
  const label = "wireguard-go";
  if (found) return check("ok", label, found);
  const fix = `apt-get install wireguard-go (labmand runs the one on PATH)`;
  switch (needs.wireguardGo) {
    case "required":
      return check(
        "fail",
        label,
        `"${configured}" not found (the userspace backend needs it)`,
        fix,
      );
    case "fallback":
      return check(
        "warn",
        label,
        `"${configured}" not found (only needed if the kernel module fails to load)`,
        fix,
      );
    case "no":
      return check("ok", label, `"${configured}" not found; not needed in this mode`);
  }
}

export function tunCheck(needed: boolean, state: "char" | "other" | "missing"): Check {
  const label = "/dev/net/tun";
  if (state === "char") return check("ok", label, "present");
  if (!needed) {
    return check(
      "ok",
      label,
      `${state === "missing" ? "missing" : "not a device"}; not needed in this mode`,
    );
  }
  return check(
    "fail",
    label,
    state === "missing" ? "missing (wireguard-go needs it)" : "is not a character device",
    "run: modprobe tun; in a container, pass the device (e.g. docker run --device /dev/net/tun --cap-add NET_ADMIN)",
  );
}

export function rosenpassCheck(enabled: boolean, configured: string, found: string | null): Check {
  const label = "rosenpass";
  if (!enabled) return check("ok", label, "disabled in config (no post-quantum PSK)");
  if (found) return check("ok", label, found);
  return check(
    "fail",
    label,
    `"${configured}" not found (rosenpass.enabled = true)`,
    "install it on PATH (cargo install rosenpass --root /usr/local), " +
      "or set rosenpass.enabled = false to run without post-quantum PSKs",
  );
}

/** What `doctor` found at a secret file's path. */
export type SecretStat = { kind: "file"; mode: number } | { kind: "missing" } | { kind: "other" };

/**
 * A secret file (invariant 7): mode 0600 or stricter. A missing key that `labman keygen`
 * creates is a warning; any other missing secret fails.
 */
export function keyFileCheck(
  label: string,
  path: string,
  st: SecretStat,
  generatedBy?: string,
): Check {
  switch (st.kind) {
    case "missing":
      return generatedBy
        ? check("warn", label, `${path} does not exist yet`, `run: ${generatedBy}`)
        : check(
          "fail",
          label,
          `${path} does not exist`,
          `write the secret to it, then run: chmod 600 ${path}`,
        );
    case "other":
      return check("fail", label, `${path} is not a regular file`, "point the config at a file");
    case "file": {
      const perms = st.mode & 0o777;
      if ((perms & 0o077) !== 0) {
        return check(
          "fail",
          label,
          `${path} has mode ${octal(perms)}: group or others can read the secret`,
          `run: chmod 600 ${path}`,
        );
      }
      return check("ok", label, `${path} (${octal(perms)})`);
    }
  }
}

/** ip_forward is only reported: labman never changes it (invariant 1). */
export function ipForwardCheck(value: string | null, iface: string): Check {
  const label = "net.ipv4.ip_forward";
  if (value === null) return check("warn", label, "cannot read /proc/sys/net/ipv4/ip_forward");
  if (value.trim() === "0") return check("ok", label, "0 (labman never changes it)");
  return check(
    "warn",
    label,
    `${value.trim()}: this host routes packets (labman never changes it)`,
    `if this node is not meant to be a router, drop forwarded traffic from the tunnel, e.g.\n` +
      `nft add rule inet filter forward iifname "${iface}" drop`,
  );
}

/** The result of `GET <base_url>/models`: an HTTP answer, or the error that prevented one. */
export type ProbeOutcome = { kind: "http"; status: number; body: string } | {
  kind: "error";
  message: string;
};

/** Turns an endpoint probe into a check, with the roadmap's style of message. */
export function endpointCheck(
  name: string,
  url: string,
  outcome: ProbeOutcome,
  index: number,
): Check {
  const label = `endpoint ${name}`;
  if (outcome.kind === "error") {
    return check(
      "fail",
      label,
      `cannot connect to endpoint \`${name}\` at ${url}: ${outcome.message}`,
      `is the model server running? Otherwise fix endpoints[${index}].base_url`,
    );
  }
  if (outcome.status === 401 || outcome.status === 403) {
    return check(
      "fail",
      label,
      `${url}/models answered ${outcome.status}: the endpoint wants an API key`,
      `put the key in a file (chmod 600) and set endpoints[${index}].api_key_file`,
    );
  }
  if (outcome.status !== 200) {
    return check(
      "fail",
      label,
      `${url}/models answered HTTP ${outcome.status}`,
      `check that endpoints[${index}].base_url points at an OpenAI-compatible /v1`,
    );
  }
  let models: number | undefined;
  try {
    const data = (JSON.parse(outcome.body) as { data?: unknown }).data;
    if (Array.isArray(data)) models = data.length;
  } catch {
    // handled below
  }
  if (models === undefined) {
    return check(
      "fail",
      label,
      `${url}/models did not return an OpenAI model list ({"data": [...]})`,
      `check that endpoints[${index}].base_url points at an OpenAI-compatible /v1`,
    );
  }
  return check(
    models === 0 ? "warn" : "ok",
    label,
    `${models} model${models === 1 ? "" : "s"} at ${url}`,
    models === 0 ? "load a model on the server" : undefined,
  );
}

/** A short reason for a failed `fetch` (Deno hides the useful part in `cause`). */
export function describeFetchError(err: unknown, timeoutMs: number): string {
  const e = err as Error & { cause?: unknown };
  if (e instanceof DOMException && e.name === "TimeoutError") {
    return `no answer within ${timeoutMs} ms`;
  }
  const text = `${e?.message ?? String(err)} ${e?.cause instanceof Error ? e.cause.message : ""}`;
  if (/connection refused/i.test(text)) return "connection refused";
  if (/no route to host/i.test(text)) return "no route to host";
  if (/dns error|failed to lookup|name or service not known/i.test(text)) {
    return "host name not found";
  }
  if (/certificate|tls/i.test(text)) return "TLS error (certificate?)";
  if (e?.cause instanceof Error) {
    return e.cause.message.replace(/^error sending request for url \([^)]*\): /, "");
  }
  return e?.message ?? String(err);
}
