from licensor.words import plural


def test_one_is_singular_and_others_plural() -> None:
    assert [plural(n, "remote cluster") for n in (0, 1, 2)] == ["0 remote clusters", "1 remote cluster", "2 remote clusters"]


def test_irregular_and_explicit_plurals() -> None:
    assert (plural(3, "entry"), plural(2, "box", "boxes")) == ("3 entries", "2 boxes")


def test_large_counts_are_grouped() -> None:
    assert plural(10000, "day") == "10,000 days"
