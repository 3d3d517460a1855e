from nasforge.core.pareto import crowding_distance, dominates, non_dominated_sort, pareto_front


def test_dominance():
    assert dominates((2, 2), (1, 2))
    assert not dominates((2, 2), (2, 2))
    assert not dominates((3, 1), (1, 3))


def test_front_of_a_hand_made_set_is_exact():
    # (accuracy, -latency): maximise both
    points = [(0.90, -5), (0.95, -9), (0.92, -5), (0.80, -1), (0.95, -10), (0.70, -2), (0.92, -6)]
    assert sorted(pareto_front(points)) == [1, 2, 3]
    fronts = non_dominated_sort(points)
    assert sorted(fronts[0]) == [1, 2, 3]
    assert sorted(fronts[1]) == [0, 4, 5, 6]
    assert sum(len(f) for f in fronts) == len(points)


def test_crowding_gives_boundary_points_infinity():
    d = crowding_distance([(0, 3), (1, 2), (2, 1), (3, 0)])
    assert d[0] == d[3] == float("inf")
    assert 0 < d[1] < float("inf") and d[1] == d[2]
