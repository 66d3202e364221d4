"""Dump our environment and working directory as JSON into env.json in the working directory."""

import json
import os

with open("env.json", "w") as out:
    json.dump({"env": dict(os.environ), "cwd": os.getcwd()}, out)
