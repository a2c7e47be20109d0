"""A seeded proxy's dice are a function of (seed, request number), so nodes sharing the number agree."""

from __future__ import annotations

from rubberduck.faults.config import FailureConfig
from rubberduck.faults.state import FaultState, roll_from

CONFIG = FailureConfig(seed=7, errors=[{"status": 500, "rate": 0.5}])  # type: ignore[list-item]


def test_request_n_draws_the_same_dice_whoever_draws_them() -> None:
    assert roll_from(7, 3) == roll_from(7, 3)
    assert roll_from(7, 3) != roll_from(7, 4) and roll_from(7, 3) != roll_from(8, 3)
    alone = FaultState(CONFIG)
    assert [alone.roll() for _ in range(5)] == [roll_from(7, n) for n in range(1, 6)]


def test_the_dice_are_uniform_enough_for_exact_rates() -> None:
    draws = [roll_from(1, n).error for n in range(1, 20001)]
    assert all(0.0 <= value < 1.0 for value in draws)
    below_half = sum(value < 0.5 for value in draws)
    assert 9700 <= below_half <= 10300  # binomial(20000, 0.5): 10000 +- 4 sd


async def test_two_nodes_sharing_a_counter_draw_one_sequence() -> None:
    shared = 0

    async def counter() -> int | None:
        nonlocal shared
        shared += 1
        return shared

    node_a, node_b = FaultState(CONFIG, shared_count=counter), FaultState(CONFIG, shared_count=counter)
    alternating = [await (node_a if n % 2 else node_b).next_roll() for n in range(6)]
    alone = FaultState(CONFIG)
    assert alternating == [alone.roll() for _ in range(6)]


async def test_a_counter_that_cannot_answer_falls_back_to_the_nodes_own() -> None:
    async def down() -> int | None:
        return None

    state = FaultState(CONFIG, shared_count=down)
    assert [await state.next_roll() for _ in range(3)] == [roll_from(7, n) for n in range(1, 4)]


async def test_an_unseeded_proxy_never_asks_the_shared_counter() -> None:
    asked = 0

    async def counter() -> int | None:
        nonlocal asked
        asked += 1
        return asked

    state = FaultState(FailureConfig(errors=[{"status": 500, "rate": 0.5}]), shared_count=counter)  # type: ignore[list-item]
    rolls = [await state.next_roll() for _ in range(3)]
    assert asked == 0 and len(set(map(repr, rolls))) == 3
