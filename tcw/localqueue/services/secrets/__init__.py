"""The secrets service: named JSON values behind scopes, with an expiry (service.py lists its methods)."""
