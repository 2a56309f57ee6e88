"""In-process notice of registry changes, so caches refresh without a restart.

The registry issue adds publication on the `shuyuan.registry` Kafka topic for other processes.
"""

from collections.abc import Callable


class RegistryChanges:
    """Listeners called after a registry transaction commits."""

    def __init__(self) -> None:
        self._listeners: list[Callable[[], None]] = []

    def subscribe(self, listener: Callable[[], None]) -> None:
        """Call listener after every committed change."""
        self._listeners.append(listener)

    def changed(self) -> None:
        """Tell every listener that the registry changed."""
        for listener in self._listeners:
            listener()
