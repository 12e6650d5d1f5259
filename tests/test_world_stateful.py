"""A hypothesis state machine drives World and command buffers against a plain dict model.

The model is ``{entity id: {component: value}}``. Direct operations and buffered commands
(with marks and rewinds) are applied to both; after every step, every entity's components
and values must agree, and ids the model considers dead must be stale in the world.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import ecs

from ._examples import examples
from .components import Enemy, Health, Mana, Name, Position

COMPONENTS = (Position, Health, Mana, Name, Enemy)

values = {
    Position: st.tuples(st.integers(-100, 100), st.integers(-100, 100)).map(lambda t: Position(xy=t)),
    Health: st.integers(-1000, 1000).map(Health),
    Mana: st.integers(0, 1000).map(lambda v: Mana(float(v))),
    Name: st.text(max_size=5).map(Name),
    Enemy: st.just(Enemy()),
}


def plain(c: Any) -> Any:
    """A comparable form of a component value."""
    if isinstance(c, Position):
        return ("P", tuple(float(v) for v in np.asarray(c.xy)))
    if isinstance(c, Health):
        return ("H", int(c.hp))
    if isinstance(c, Mana):
        return ("M", float(c.mp))
    if isinstance(c, Name):
        return ("N", c.value)
    return ("E",)


component_sets = st.lists(st.sampled_from(COMPONENTS), min_size=1, max_size=5, unique=True)


class WorldMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.world = ecs.World(components=COMPONENTS, chunk_rows=16)
        self.model: dict[int, dict[type, Any]] = {}
        self.dead: set[int] = set()
        self.buf = self.world.commands()
        # the model of the buffer: a list of operations replayed at apply time
        self.pending: list[tuple[Any, ...]] = []
        self.marks: list[tuple[ecs.Mark, int]] = []

    # -- helpers -------------------------------------------------------------------------
    def alive(self) -> list[int]:
        return sorted(self.model)

    def pick(self, data: st.DataObject, allow_dead: bool = True) -> int:
        pool = self.alive() + (sorted(self.dead) if allow_dead else [])
        return data.draw(st.sampled_from(pool))

    # -- direct operations -----------------------------------------------------------------
    @rule(data=st.data(), comps=component_sets)
    def spawn(self, data: st.DataObject, comps: list[type]) -> None:
        insts = [data.draw(values[c]) for c in comps]
        eid = self.world.spawn(*insts)
        assert eid not in self.model
        self.model[eid] = {type(i): plain(i) for i in insts}
        self.dead.discard(eid)

    @rule(n=st.integers(1, 40), comps=component_sets)
    def spawn_batch(self, n: int, comps: list[type]) -> None:
        spec: dict[type, Any] = {}
        for c in comps:
            spec[c] = (
                None
                if c is Enemy
                else {Position: Position(xy=(1, 2)), Health: Health(3), Mana: Mana(2.0), Name: Name("b")}[c]
            )
        ids = self.world.spawn_batch(n, spec)
        for eid in ids.tolist():
            self.model[eid] = {c: plain(spec[c]) if c is not Enemy else ("E",) for c in comps}

    @precondition(lambda self: self.model or self.dead)
    @rule(data=st.data())
    def destroy(self, data: st.DataObject) -> None:
        eid = self.pick(data)
        if eid in self.model:
            self.world.destroy(eid)
            del self.model[eid]
            self.dead.add(eid)
        else:
            try:
                self.world.destroy(eid)
            except ecs.StaleEntityError as exc:
                assert exc.entity == eid
            else:
                raise AssertionError("destroying a stale id must raise")

    @precondition(lambda self: self.model)
    @rule(data=st.data(), c=st.sampled_from(COMPONENTS))
    def add(self, data: st.DataObject, c: type) -> None:
        eid = self.pick(data, allow_dead=False)
        inst = data.draw(values[c])
        self.world.add(eid, inst)
        self.model[eid][c] = plain(inst)

    @precondition(lambda self: self.model)
    @rule(data=st.data(), c=st.sampled_from(COMPONENTS))
    def remove(self, data: st.DataObject, c: type) -> None:
        eid = self.pick(data, allow_dead=False)
        self.world.remove(eid, c)
        self.model[eid].pop(c, None)

    # -- buffered commands ------------------------------------------------------------------
    @rule(data=st.data(), comps=component_sets)
    def cmd_spawn(self, data: st.DataObject, comps: list[type]) -> None:
        insts = [data.draw(values[c]) for c in comps]
        token = self.buf.spawn(*insts)
        self.pending.append(("spawn", token, {type(i): plain(i) for i in insts}))

    @precondition(lambda self: self.model)
    @rule(data=st.data(), n=st.integers(1, 3))
    def cmd_spawn_alike(self, data: st.DataObject, n: int) -> None:
        """Spawn into an existing entity's archetype: fills rows destroys in this buffer freed."""
        like = self.pick(data, allow_dead=False)
        comps = list(self.model[like])
        for _ in range(n):
            insts = [data.draw(values[c]) for c in comps]
            token = self.buf.spawn(*insts)
            self.pending.append(("spawn", token, {type(i): plain(i) for i in insts}))

    @precondition(lambda self: self.model)
    @rule(data=st.data(), n=st.integers(1, 6))
    def cmd_destroy_alike(self, data: st.DataObject, n: int) -> None:
        """Destroy up to n entities of one archetype in one array (leaves holes to fill)."""
        like = self.pick(data, allow_dead=False)
        same = [e for e in self.alive() if set(self.model[e]) == set(self.model[like])][:n]
        self.buf.destroy(np.array(same, dtype=np.int64))
        for e in same:
            self.pending.append(("destroy", e))

    @precondition(lambda self: self.model or self.dead)
    @rule(data=st.data())
    def cmd_destroy(self, data: st.DataObject) -> None:
        eid = self.pick(data)
        self.buf.destroy(eid)
        self.pending.append(("destroy", eid))

    @precondition(lambda self: self.model or self.dead)
    @rule(data=st.data(), c=st.sampled_from(COMPONENTS))
    def cmd_add(self, data: st.DataObject, c: type) -> None:
        eid = self.pick(data)
        inst = data.draw(values[c])
        self.buf.add(eid, inst)
        self.pending.append(("add", eid, c, plain(inst)))

    @precondition(lambda self: self.model or self.dead)
    @rule(data=st.data(), c=st.sampled_from(COMPONENTS))
    def cmd_remove(self, data: st.DataObject, c: type) -> None:
        eid = self.pick(data)
        self.buf.remove(eid, c)
        self.pending.append(("remove", eid, c))

    @rule()
    def mark(self) -> None:
        self.marks.append((self.buf.mark(), len(self.pending)))

    @precondition(lambda self: self.marks)
    @rule(data=st.data())
    def rewind(self, data: st.DataObject) -> None:
        i = data.draw(st.integers(0, len(self.marks) - 1))
        mark, n = self.marks[i]
        self.buf.rewind(mark)
        del self.pending[n:]
        del self.marks[i + 1 :]

    @rule()
    def apply(self) -> None:
        stats = self.world.apply(self.buf)
        stale = 0
        for op in self.pending:
            kind = op[0]
            if kind == "spawn":
                eid = op[1].entity
                assert eid is not None
                self.model[eid] = dict(op[2])
                self.dead.discard(eid)
            elif kind == "destroy":
                if op[1] in self.model:
                    del self.model[op[1]]
                    self.dead.add(op[1])
                else:
                    stale += 1
            elif kind == "add":
                if op[1] in self.model:
                    self.model[op[1]][op[2]] = op[3]
                else:
                    stale += 1
            elif kind == "remove":
                if op[1] in self.model:
                    self.model[op[1]].pop(op[2], None)
                else:
                    stale += 1
        assert stats.stale == stale
        self.pending.clear()
        self.marks.clear()

    # -- invariants -----------------------------------------------------------------------------
    @invariant()
    def world_matches_model(self) -> None:
        w = self.world
        assert len(w) == len(self.model)
        assert sorted(w.entities().tolist()) == self.alive()
        for eid, comps in self.model.items():
            assert set(w.components_of(eid)) == set(comps)
            for c, want in comps.items():
                assert plain(w.get(eid, c)) == want
        for eid in self.dead:
            assert not w.is_alive(eid)
        for c in COMPONENTS:
            assert w.count(c) == sum(1 for comps in self.model.values() if c in comps)


WorldMachine.TestCase.settings = settings(
    max_examples=examples(150), stateful_step_count=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestWorldAgainstModel = WorldMachine.TestCase
