"""``harness.__all__`` lists exactly the public names the package exposes (httpx's test, adapted)."""

import harness


def test_all_is_complete_and_resolvable() -> None:
    public = {name for name in dir(harness) if not name.startswith("_")}
    # Submodules become attributes once imported; they are reached through their path, not __all__.
    import types

    public = {name for name in public if not isinstance(getattr(harness, name), types.ModuleType)}
    assert set(harness.__all__) - {"__version__"} == public
    for name in harness.__all__:
        assert getattr(harness, name) is not None
