"""NSGA-II for architectures: non-dominated sorting, crowding distance, crossover and mutation.

After Deb, Pratap, Agarwal & Meyarivan, "A fast and elitist multiobjective genetic algorithm:
NSGA-II" (IEEE TEC 2002), adapted to ask/tell:

* the first ``population_size`` proposals are random;
* every later proposal is a child: two parents picked by binary tournaments (lower front first,
  then larger crowding distance), mixed by uniform crossover (each choice from either parent,
  completed by the space so conditional choices stay valid), then mutated with
  :meth:`~nasforge.core.space.SearchSpace.mutate`;
* each time ``population_size`` children have been told, parents and children are merged and the
  next parent population is filled front by front, the last front by crowding distance (elitist
  ``(mu + lambda)`` selection).

Objectives come from ``Observation.objectives``, every one oriented so that larger is better (the
experiment loop does the orienting). An observation without objectives uses ``(score,)``, so the
strategy also runs single-objective. Failed or infeasible trials never become parents.
"""

from __future__ import annotations

import math
from typing import ClassVar

from nasforge.core.errors import ConfigError
from nasforge.core.pareto import crowding_distance, non_dominated_sort
from nasforge.core.records import Architecture, Observation
from nasforge.core.space import SearchSpace
from nasforge.strategies.base import NativeStrategy, check_float, check_int


class NSGA2(NativeStrategy):
    """Multi-objective evolution with non-dominated sorting and crowding distance (NSGA-II).

    Options: ``population_size`` (20), ``crossover_probability`` (0.9: otherwise the child is a
    copy of the first parent before mutation), ``mutation_tries`` (20: re-mutations tried when a
    child was proposed before, then a random unseen architecture is proposed).
    """

    multi_objective: ClassVar[bool] = True

    def __init__(self, space: SearchSpace, seed: int = 0, population_size: int = 20, crossover_probability: float = 0.9, mutation_tries: int = 20) -> None:
        super().__init__(space, seed=seed)
        self.population_size = check_int("population_size", population_size, 2, "nsga2")
        self.crossover_probability = check_float("crossover_probability", crossover_probability, 0.0, 1.0, "nsga2")
        self.mutation_tries = check_int("mutation_tries", mutation_tries, 1, "nsga2")
        #: The current parents: (architecture, objectives), with their front rank and crowding distance.
        self.parents: list[tuple[Architecture, tuple[float, ...]]] = []
        self._rank: list[int] = []
        self._crowding: list[float] = []
        self.offspring: list[tuple[Architecture, tuple[float, ...]]] = []
        self._told_since_selection = 0
        self._random_asked = 0
        self._n_objectives: int | None = None

    # -- selection ---------------------------------------------------------------------------------
    def _survivors(self, pool: list[tuple[Architecture, tuple[float, ...]]]) -> None:
        """Keep the best ``population_size`` of ``pool`` by front, then crowding; store rank and crowding."""
        points = [objectives for _, objectives in pool]
        chosen: list[int] = []
        rank: list[int] = []
        crowd: list[float] = []
        for r, front in enumerate(non_dominated_sort(points)):
            distance = crowding_distance([points[i] for i in front])
            if len(chosen) + len(front) <= self.population_size:
                chosen.extend(front)
                rank.extend([r] * len(front))
                crowd.extend(distance)
                continue
            order = sorted(range(len(front)), key=lambda k: (-distance[k], front[k]))  # widest spread first, then oldest
            for k in order[: self.population_size - len(chosen)]:
                chosen.append(front[k])
                rank.append(r)
                crowd.append(distance[k])
            break
        self.parents = [pool[i] for i in chosen]
        self._rank, self._crowding = rank, crowd

    def _tournament(self) -> Architecture:
        """Binary tournament: lower front wins, then larger crowding distance, then the first drawn."""
        n = len(self.parents)
        a, b = (int(i) for i in self.rng.integers(n, size=2))
        key_a = (self._rank[a], -self._crowding[a])
        key_b = (self._rank[b], -self._crowding[b])
        return self.parents[b if key_b < key_a else a][0]

    def crossover(self, first: Architecture, second: Architecture) -> Architecture:
        """Uniform crossover: each choice from either parent; the space fills and validates the result."""
        mixed = {}
        for choice in self.space.choices:
            donor = first if self.rng.random() < 0.5 else second
            if choice.name in donor:
                mixed[choice.name] = donor[choice.name]
            elif choice.name in first:
                mixed[choice.name] = first[choice.name]
            elif choice.name in second:
                mixed[choice.name] = second[choice.name]
        return self.space.validate(self.space.complete(mixed, self.rng))

    # -- ask/tell ----------------------------------------------------------------------------------
    def suggest(self) -> Architecture | None:
        if self._random_asked < self.population_size or not self.parents:
            arch = self.random_unseen()
            if arch is not None:
                self._random_asked += 1
            return arch
        first, second = self._tournament(), self._tournament()
        child = self.crossover(first, second) if self.rng.random() < self.crossover_probability else first
        walk = [child]

        def next_mutant() -> Architecture:
            walk[0] = self.space.mutate(walk[0], self.rng)
            return walk[0]

        return self.propose_unseen(next_mutant, self.mutation_tries)

    def _objectives(self, observation: Observation) -> tuple[float, ...] | None:
        """The finite objectives of a complete, feasible trial (checked against the others), else ``None``."""
        if not (observation.ok and observation.feasible):
            return None
        objectives = tuple(float(v) for v in observation.objectives) or (float(observation.score),)
        if self._n_objectives is None:
            self._n_objectives = len(objectives)
        elif len(objectives) != self._n_objectives:
            raise ConfigError(
                "objectives",
                f"nsga2 was told {len(objectives)} objective(s) for one trial and {self._n_objectives} for another; every trial must report the same objectives",
            )
        return objectives if all(math.isfinite(v) for v in objectives) else None

    def relearn(self, observation: Observation) -> None:
        """A newer result (same or higher fidelity) replaces the architecture's objectives where it is a parent or offspring."""
        objectives = self._objectives(observation)
        for group in (self.parents, self.offspring):
            for i, (arch, _) in enumerate(group):
                if arch == observation.architecture and objectives is not None:
                    group[i] = (arch, objectives)

    def learn(self, observation: Observation) -> None:
        self._told_since_selection += 1
        objectives = self._objectives(observation)
        if objectives is not None:
            self.offspring.append((observation.architecture, objectives))
        generation_done = self._told_since_selection >= self.population_size
        # Parents are needed as soon as the random phase is over, even if part of it is still running or failed.
        first_parents_due = not self.parents and self._random_asked >= self.population_size
        if self.offspring and (generation_done or first_parents_due):
            self._select()

    def _select(self) -> None:
        pool = self.parents + self.offspring
        if pool:
            self._survivors(pool)
        self.offspring = []
        self._told_since_selection = 0

    def pareto_front(self) -> list[tuple[Architecture, tuple[float, ...]]]:
        """The non-dominated members of the current parents and unselected children."""
        pool = self.parents + self.offspring
        if not pool:
            return []
        front = non_dominated_sort([o for _, o in pool])[0]
        return [pool[i] for i in front]
