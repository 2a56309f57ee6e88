"""The gateway's cached view of the registry: decisions never wait for the database."""

from sqlalchemy import Engine

from registry.catalogue import Catalogue, load_catalogue
from registry.snapshot import SnapshotCache


class CatalogueCache(SnapshotCache[Catalogue]):
    """Holds the current Catalogue; reloads when told the registry changed, or when it is old."""

    def __init__(self, engine: Engine, *, max_age_s: float) -> None:
        super().__init__(engine, load_catalogue, max_age_s=max_age_s)
