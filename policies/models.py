"""Content policy models (delivery policies with conditions and actions)."""
