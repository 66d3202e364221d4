"""Thin click commands: each parses its options, loads the config, calls one library function and turns
its result into output and an exit code. No Taskcluster logic lives here."""
