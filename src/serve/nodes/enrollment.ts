import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

// The node's secrets and the rule that hands one out. Pure: no database, no clock of its own.
//
// An install token reaches the installer on the kernel command line, which TFTP serves to whoever
// asks for the node's path, so it is public for as long as it is valid. It is therefore good for
// exactly one thing, once: the installer trades it for the node's credential, which never crosses
// TFTP and is kept on the installed disk. The credential opens the node's seed (k3s join token) and
// lets the node report. The registry keeps only its sha256.

/** How long a served install token stays usable: the time from a netboot to the installer's first request. */
export const INSTALL_TOKEN_TTL_MS = 30 * 60_000;

export function newSecret(): string {
  return randomBytes(32).toString('hex');
}

export function secretHash(secret: string): string {
  return createHash('sha256').update('kiln-node-credential\0').update(secret).digest('hex');
}

/** Constant-time comparison of two strings (different lengths are simply unequal). */
export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** What the registry holds about a node's current install token and credential. */
export interface EnrollState {
  plan: string;
  parked: boolean;
  installToken: string | null;
  /** ISO time; null until the token is first served (rendered into a command line). */
  expires: string | null;
  /** ISO time of the token's one use; null while unused. */
  used: string | null;
  /** Self-heal: a `local` node flipped to install by a netboot must prove it is the same node. */
  needsPrevious: boolean;
  credentialHash: string | null;
  /** Full DHCP mode: the address kiln leased to this node; enrolment must come from it. */
  leasedIp: string | null;
}

export interface EnrollRequest {
  token: string | undefined;
  previous: string | undefined;
  ip: string;
}

export type EnrollRefusal = 'no-token' | 'not-installing' | 'wrong-token' | 'expired' | 'reused' | 'needs-previous' | 'wrong-address';

export type EnrollDecision = { ok: true } | { ok: false; why: EnrollRefusal; status: 401 | 403 | 409; message: string; alert: boolean };

function refuse(why: EnrollRefusal, status: 401 | 403 | 409, message: string, alert = false): EnrollDecision {
  return { ok: false, why, status, message, alert };
}

/**
 * Whether an enrolment may hand out a new credential. Refusals that show someone else holds the
 * token (a second use, a wrong address, a missing proof of the previous credential) raise an alert.
 */
export function decideEnroll(s: EnrollState, r: EnrollRequest, now: Date): EnrollDecision {
  if (!r.token) return refuse('no-token', 401, 'send the install token from the kernel command line as a bearer token');
  if (s.plan !== 'install' || s.parked || !s.installToken) return refuse('not-installing', 403, 'this node is not being installed');
  if (!sameSecret(r.token, s.installToken)) return refuse('wrong-token', 403, 'install token not accepted');
  if (s.used) {
    return refuse(
      'reused',
      409,
      `this install token was already used at ${s.used}: either the node restarted its install or another host took the token; check the node, then run kiln node reprovision`,
      true,
    );
  }
  if (s.expires && Date.parse(s.expires) <= now.getTime()) return refuse('expired', 403, 'install token expired: netboot the node again');
  if (s.leasedIp && r.ip !== s.leasedIp) {
    return refuse('wrong-address', 403, `enrolment must come from the address kiln leased to this node`, true);
  }
  if (s.needsPrevious) {
    if (!s.credentialHash || !r.previous || !sameSecret(secretHash(r.previous), s.credentialHash)) {
      return refuse(
        'needs-previous',
        403,
        'this node was switched to install by a netboot (self-heal): the installer must present the credential from its old disk; if that disk is gone, run kiln node reprovision',
        true,
      );
    }
  }
  return { ok: true };
}
