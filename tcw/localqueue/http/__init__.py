"""The local deployment's HTTP layer: the route tables from the official client's metadata, request parsing,
hawk authentication, error bodies, and the byte endpoints that stand in for S3."""
