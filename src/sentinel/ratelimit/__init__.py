"""Rate limits shared by every API process through Redis (the `limits` library)."""
