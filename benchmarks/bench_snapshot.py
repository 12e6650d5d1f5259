"""Snapshot benchmarks: 1M entities with two float32 x 2 components.

* ``snapshot``: ``world.snapshot()`` in memory (copies every column and the registry) vs
  copying the two raw arrays; target at most 100 ms.
* ``restore``: ``world.restore(snap)`` (validates the registry against the tables, then
  rebuilds the tables) vs copying the raw arrays back.
* ``save`` / ``load``: the snapshot file (checksummed .npy arrays plus JSON) in a temporary
  directory vs ``np.save``/``np.load`` of the raw arrays.

esper has no snapshots; its column stays empty. Run it alone with
``python -m benchmarks.bench_snapshot [--quick]``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

import ecs

from ._common import Position, Velocity, best_of, make_row

AREA = "snapshot"
N = 1_000_000


def run(quick: bool = False) -> list[dict[str, Any]]:
    rng = np.random.default_rng(4)
    pos = rng.random((N, 2), dtype=np.float32)
    vel = rng.random((N, 2), dtype=np.float32)
    world = ecs.World(components=[Position, Velocity])
    world.spawn_batch(N, {Position: pos, Velocity: vel})
    world.destroy(world.entities()[::100])  # a non-trivial free list
    repeat = 3 if quick else 7

    holder: dict[str, Any] = {}

    def snap() -> None:
        holder["snap"] = world.snapshot()

    t_snap = best_of(snap, repeat=repeat)
    snapshot: ecs.WorldSnapshot = holder["snap"]
    t_copy = best_of(lambda: (pos.copy(), vel.copy()), repeat=repeat)
    t_restore = best_of(lambda: world.restore(snapshot), repeat=repeat)
    dst_p, dst_v = np.empty_like(pos), np.empty_like(vel)

    def copy_back() -> None:
        dst_p[...] = pos
        dst_v[...] = vel

    t_copy_back = best_of(copy_back, repeat=repeat)
    rows = [
        make_row(
            AREA,
            "snapshot 1M in memory",
            t_snap * 1e3,
            numpy=t_copy * 1e3,
            unit="ms",
            target="<= 100 ms",
            met=t_snap <= 0.1,
            score=t_snap / 0.1,
            note=f"{snapshot.nbytes / 1e6:.0f} MB of arrays (ids, 2 columns, registry); numpy copies the 2 arrays",
        ),
        make_row(
            AREA,
            "restore 1M (validate + rebuild)",
            t_restore * 1e3,
            numpy=t_copy_back * 1e3,
            unit="ms",
            note="numpy copies the 2 arrays back into place",
        ),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "world.ecsnap"
        raw = Path(tmp) / "raw.npz"
        t_save = best_of(lambda: snapshot.save(path), repeat=max(2, repeat // 2))
        t_load = best_of(lambda: ecs.WorldSnapshot.load(path), repeat=max(2, repeat // 2))
        t_np_save = best_of(lambda: np.savez(raw, pos=pos, vel=vel), repeat=max(2, repeat // 2))

        def np_load() -> None:
            with np.load(raw, allow_pickle=False) as f:
                _ = (f["pos"], f["vel"])  # reading the members is the work being timed

        t_np_load = best_of(np_load, repeat=max(2, repeat // 2))
        size = path.stat().st_size
    rows += [
        make_row(
            AREA,
            "save 1M to a file",
            t_save * 1e3,
            numpy=t_np_save * 1e3,
            unit="ms",
            note=f"{size / 1e6:.0f} MB file with BLAKE2b checksums; numpy: np.savez of the 2 arrays",
        ),
        make_row(
            AREA,
            "load 1M from a file (verify checksums)",
            t_load * 1e3,
            numpy=t_np_load * 1e3,
            unit="ms",
            note="numpy: np.load of the 2 arrays",
        ),
    ]
    return rows


if __name__ == "__main__":
    for r in run("--quick" in sys.argv):
        print(r)
