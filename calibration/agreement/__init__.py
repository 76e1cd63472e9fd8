"""Agreement statistics (placeholder while the package is being assembled)."""
