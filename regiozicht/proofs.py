"""Zero-knowledge proofs of linked counts v2 (Chaum–Pedersen, Fiat–Shamir).

- A batched DLEQ (RFC 9497 §2.2 style): the prover shows that every Z_j is
  k·L_j for the one k behind its public P = k·G. Weights ρ_j (128 bits) come
  from a transcript hash that binds the query, the run, the prover, both
  public keys and the hashes of L and Z, so they are fixed only once Z is.
  M = Σρ_j·L_j, N = Σρ_j·Z_j; the prover proves log_G P = log_M N. A wrong
  image passes with probability ≤ 2⁻¹²⁸ per hash query.
- A CDS OR-proof for a noise slot: h = t·P_A and w = t·Q with Q either the
  peer's P_B (the slot is on) or a public R (off), without saying which.

Every challenge is hashed from a context that names the protocol step, so a
proof made for one place is worthless in any other.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from regiozicht import group
from regiozicht.group import mul, mul_base, scalar_add, scalar_from_hash, scalar_mul, scalar_sub, sub

WEIGHT_BYTES = 16


def transcript(*parts: bytes | str | int) -> bytes:
    """An unambiguous hash of the parts (each length-prefixed)."""
    digest = hashlib.sha512()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part.to_bytes(8, "big") if isinstance(part, int) else part
        digest.update(len(data).to_bytes(8, "big") + data)
    return digest.digest()


def weights(seed: bytes, count: int) -> list[bytes]:
    """ρ_j: 128 bits of SHA-512(seed ‖ j), as scalars (never zero)."""
    out = []
    for j in range(count):
        value = hashlib.sha512(seed + j.to_bytes(8, "big")).digest()[:WEIGHT_BYTES]
        out.append((value + bytes(group.SCALAR_BYTES - WEIGHT_BYTES)) if any(value) else (1).to_bytes(32, "little"))
    return out


@dataclass(frozen=True)
class Dleq:
    """Proof that log_G P = log_M N: challenge c and response z."""

    c: bytes
    z: bytes

    def encode(self) -> bytes:
        return self.c + self.z

    @classmethod
    def decode(cls, data: bytes) -> Dleq:
        if len(data) != 64:
            raise ValueError("a DLEQ proof is 64 bytes")
        return cls(data[:32], data[32:])


def _dleq_challenge(seed: bytes, public: bytes, m: bytes, n: bytes, a1: bytes, a2: bytes) -> bytes:
    return scalar_from_hash(transcript(b"regiozicht/v2/dleq", seed, public, m, n, a1, a2))


def prove_dleq(secret: bytes, public: bytes, m: bytes, n: bytes, seed: bytes) -> Dleq:
    r = group.new_scalar()
    c = _dleq_challenge(seed, public, m, n, mul_base(r), mul(r, m))
    return Dleq(c, scalar_add(r, scalar_mul(c, secret)))


def verify_dleq(public: bytes, m: bytes, n: bytes, seed: bytes, proof: Dleq) -> bool:
    """r·G = z·G − c·P and r·M = z·M − c·N must hash back to c."""
    if not (group.is_scalar(proof.c) and group.is_scalar(proof.z)) or not all(map(group.is_valid, (public, m, n))):
        return False
    try:
        a1 = sub(mul_base(proof.z), mul(proof.c, public))
        a2 = sub(mul(proof.z, m), mul(proof.c, n))
    except RuntimeError:  # an identity on the way: not a proof of ours
        return False
    return _dleq_challenge(seed, public, m, n, a1, a2) == proof.c


# -- slots ----------------------------------------------------------------------

@dataclass(frozen=True)
class SlotProof:
    """CDS OR-proof: (c_on, c_off, z_on, z_off) with c_on + c_off = H(…)."""

    c_on: bytes
    c_off: bytes
    z_on: bytes
    z_off: bytes

    def encode(self) -> bytes:
        return self.c_on + self.c_off + self.z_on + self.z_off

    @classmethod
    def decode(cls, data: bytes) -> SlotProof:
        if len(data) != 128:
            raise ValueError("a slot proof is 128 bytes")
        return cls(data[:32], data[32:64], data[64:96], data[96:])


def _commitments(base: bytes, peer: bytes, off: bytes, h: bytes, w: bytes, proof: SlotProof) -> tuple[bytes, ...]:
    """The four commitments a verifier recomputes: z·X − c·Y per branch and base."""
    return (sub(mul(proof.z_on, base), mul(proof.c_on, h)), sub(mul(proof.z_on, peer), mul(proof.c_on, w)),
            sub(mul(proof.z_off, base), mul(proof.c_off, h)), sub(mul(proof.z_off, off), mul(proof.c_off, w)))


def _slot_challenge(context: bytes, base: bytes, peer: bytes, off: bytes, h: bytes, w: bytes,
                    commitments: Sequence[bytes]) -> bytes:
    return scalar_from_hash(transcript(b"regiozicht/v2/slot", context, base, peer, off, h, w, *commitments))


def prove_slot(t: bytes, on: bool, base: bytes, peer: bytes, off: bytes, context: bytes) -> tuple[bytes, bytes, SlotProof]:
    """h = t·base and w = t·peer (on) or t·off (off), with a proof that hides which."""
    h = mul(t, base)
    w = mul(t, peer if on else off)
    k, c_sim, z_sim = group.new_scalar(), group.new_scalar(), group.new_scalar()
    real = (mul(k, base), mul(k, peer if on else off))
    simulated = (sub(mul(z_sim, base), mul(c_sim, h)), sub(mul(z_sim, off if on else peer), mul(c_sim, w)))
    commitments = real + simulated if on else simulated + real
    c = _slot_challenge(context, base, peer, off, h, w, commitments)
    c_real = scalar_sub(c, c_sim)
    z_real = scalar_add(k, scalar_mul(c_real, t))
    proof = SlotProof(c_real, c_sim, z_real, z_sim) if on else SlotProof(c_sim, c_real, z_sim, z_real)
    return h, w, proof


def verify_slot(h: bytes, w: bytes, proof: SlotProof, base: bytes, peer: bytes, off: bytes, context: bytes) -> bool:
    if not all(map(group.is_scalar, (proof.c_on, proof.c_off, proof.z_on, proof.z_off))):
        return False
    try:
        commitments = _commitments(base, peer, off, h, w, proof)
    except RuntimeError:
        return False
    c = _slot_challenge(context, base, peer, off, h, w, commitments)
    return scalar_add(proof.c_on, proof.c_off) == c


def off_point(dst: bytes, cell: int, slot: int) -> bytes:
    """R_{g,k}: the public point an off slot's w is built on (nobody knows its logarithm)."""
    return group.hash_to_group(dst, b"off|" + cell.to_bytes(4, "big") + slot.to_bytes(4, "big"))
