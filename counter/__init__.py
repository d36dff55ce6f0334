"""The linked-count counter: an independent service that checks proofs and counts (docs/linked-counts.md)."""
