"""Who is calling and what they may do: hawk verification (hawk.py, with mohawk), the clients and the
temporary credentials the deployment issues (clients.py, credentials.py), and scopes as pure functions over
strings (scopes.py)."""
