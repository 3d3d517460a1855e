"""Regularized (aging) evolution, Real et al. 2019, "Regularized Evolution for Image Classifier Architecture Search"."""

from __future__ import annotations

from collections import deque

from nasforge.core.errors import ConfigError
from nasforge.core.records import Architecture, Observation
from nasforge.core.space import SearchSpace
from nasforge.strategies.base import NativeStrategy, check_int, score_of

#: Tournament size when ``sample_size`` is not given (or the population size, if smaller).
DEFAULT_SAMPLE_SIZE = 5


class RegularizedEvolution(NativeStrategy):
    """Tournament selection with aging: the oldest member leaves the population, not the worst.

    Proposals are random until the population is full (counting random proposals still
    running; trials told from a warm start fill it too). After that each proposal is a mutation
    (:meth:`~nasforge.core.space.SearchSpace.mutate`) of the best of ``sample_size`` members drawn
    at random from the current population -- with replacement, as in Real et al.'s algorithm
    (``replace: false`` draws distinct members, a slightly greedier tournament). Every told trial joins the
    population; once it holds more than ``population_size`` members the oldest is removed.
    Failed trials join too, with the worst possible score, so they age out like the rest.

    When a mutation gives an architecture proposed before, the mutant is mutated again (a short
    random walk away from the parent, up to ``mutation_tries`` steps), then a random unseen
    architecture is proposed instead.
    While the first random proposals are all still running (nothing told yet), proposals stay random.

    Options: ``population_size`` (20), ``sample_size`` (5, or ``population_size`` if smaller),
    ``replace`` (true), ``mutation_tries`` (20).
    """

    def __init__(
        self,
        space: SearchSpace,
        seed: int = 0,
        population_size: int = 20,
        sample_size: int | None = None,
        mutation_tries: int = 20,
        replace: bool = True,
    ) -> None:
        super().__init__(space, seed=seed)
        self.population_size = check_int("population_size", population_size, 1, "evolution")
        if sample_size is None:  # the default follows a small population down
            sample_size = min(DEFAULT_SAMPLE_SIZE, self.population_size)
        self.sample_size = check_int("sample_size", sample_size, 1, "evolution")
        self.mutation_tries = check_int("mutation_tries", mutation_tries, 1, "evolution")
        if not isinstance(replace, bool):
            raise ConfigError("strategy.options.replace", f"evolution's replace must be true or false, got {replace!r}")
        self.replace = replace
        if self.sample_size > self.population_size:
            raise ConfigError(
                "strategy.options.sample_size",
                f"evolution's sample_size ({sample_size}) is larger than population_size ({population_size}); make it at most the population size",
            )
        #: (architecture, score) pairs, oldest first.
        self.population: deque[tuple[Architecture, float]] = deque()
        self._pending_random: set[Architecture] = set()  # random start proposals not told yet

    def select_parent(self) -> Architecture:
        """Tournament: the best of ``sample_size`` members drawn at random (with replacement unless ``replace`` is off; first of equals)."""
        n = len(self.population)
        if self.replace:
            picked = self.rng.integers(n, size=self.sample_size)
        else:
            picked = self.rng.choice(n, size=min(self.sample_size, n), replace=False)
        best = max(picked.tolist(), key=lambda i: (self.population[i][1], -i))
        return self.population[best][0]

    def suggest(self) -> Architecture | None:
        if len(self.population) + len(self._pending_random) < self.population_size or not self.population:
            arch = self.random_unseen()
            if arch is not None:
                self._pending_random.add(arch)
            return arch
        walk = [self.select_parent()]

        def next_mutant() -> Architecture:
            walk[0] = self.space.mutate(walk[0], self.rng)
            return walk[0]

        return self.propose_unseen(next_mutant, self.mutation_tries)

    def learn(self, observation: Observation) -> None:
        self._pending_random.discard(observation.architecture)
        self.population.append((observation.architecture, score_of(observation)))
        while len(self.population) > self.population_size:
            self.population.popleft()

    def relearn(self, observation: Observation) -> None:
        """A newer result (same or higher fidelity) of a member updates its score in place; it does not rejoin."""
        for i, (arch, _) in enumerate(self.population):
            if arch == observation.architecture:
                self.population[i] = (arch, score_of(observation))
