/**
 * Linux errno names for the codes netlink and the UAPI return, so errors name the failure
 * ("ENODEV") instead of a bare number.
 *
 * @module
 */

const NAMES: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  3: "ESRCH",
  4: "EINTR",
  5: "EIO",
  6: "ENXIO",
  7: "E2BIG",
  9: "EBADF",
  11: "EAGAIN",
  12: "ENOMEM",
  13: "EACCES",
  16: "EBUSY",
  17: "EEXIST",
  19: "ENODEV",
  22: "EINVAL",
  28: "ENOSPC",
  34: "ERANGE",
  53: "EBADR",
  55: "ENOANO",
  71: "EPROTO",
  74: "EBADMSG",
  90: "EMSGSIZE",
  93: "EPROTONOSUPPORT",
  95: "EOPNOTSUPP",
  96: "EPFNOSUPPORT",
  97: "EAFNOSUPPORT",
  98: "EADDRINUSE",
  99: "EADDRNOTAVAIL",
  101: "ENETUNREACH",
  105: "ENOBUFS",
};

/** `errnoName(19)` → `"ENODEV"`; unknown codes become `"errno 123"`. Sign is ignored. */
export function errnoName(code: number): string {
  return NAMES[Math.abs(code)] ?? `errno ${Math.abs(code)}`;
}

/** Numeric errno values used by callers that branch on them. */
export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  EEXIST: 17,
  ENODEV: 19,
  EINVAL: 22,
  EOPNOTSUPP: 95,
} as const;
