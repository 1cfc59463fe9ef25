"""The sender's side of rendering; the implementation is `murmur.rendering` (shared)."""
