"""worker-manager as the local deployment serves it: worker pools with the ``static`` provider, their
workers' registration and reregistration, termination advice, and the errors workers report."""
