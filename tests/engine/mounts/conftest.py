"""Workers for mount tests keep their caches whatever the disk's free space (a test of collection sets
its own minimum): a machine with less than the default minimum free must not make a cache test fail."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from tcw.config import Config
from tests.support.worker import MakeConfig


@pytest.fixture
def worker_config(worker_config: MakeConfig) -> MakeConfig:
    def make(*args: Any, **kwargs: Any) -> Config:
        config = worker_config(*args, **kwargs)
        return replace(config, mounts=replace(config.mounts, min_free_space_mb=0))

    return make
