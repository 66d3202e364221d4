"""The Taskcluster services of the local deployment, one package each (queue/, object/...), siblings over
the same auth and storage layers; api.py is their contract with the HTTP layer, state.py what they share."""
