"""The object service: uploads, downloads and object metadata (service.py lists its methods)."""
