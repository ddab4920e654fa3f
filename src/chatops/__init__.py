"""chatops: a Git repository as the single source of truth for Docker Compose hosts."""

__version__ = "0.1.0"
