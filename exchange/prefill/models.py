"""Prefill models (一件事一次办): the case's subjects by role in; each material's elements and results out."""

from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from exchange.queries.models import CASE_NO_PATTERN, ON_BEHALF_OF_PATTERN, ElementResult, SubjectIn
from registry.service_items.models import ROLE_PATTERN

# Room for `.<role index>.<source>` (a department code is at most 32 characters) in a 64-character query_id.
PREFILL_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_:-]{7,27}$"
Role = Annotated[str, StringConstraints(pattern=ROLE_PATTERN)]
MaterialStatus = Literal["supplied", "partly", "must_bring"]


class PrefillIn(BaseModel):
    """Body of POST /v1/service-items/{code}/prefill."""

    model_config = ConfigDict(extra="forbid")
    prefill_id: str = Field(
        pattern=PREFILL_ID_PATTERN,
        description="Chosen by the caller (8-28 characters): the idempotency key. Role i's elements of "
        "one source are asked as query `<prefill_id>.<i>.<source>`, so re-sending the same prefill "
        "returns the stored answers",
    )
    case_no: str = Field(pattern=CASE_NO_PATTERN, description="The case number (办件编号), as for a query")
    subjects: dict[Role, SubjectIn] = Field(
        min_length=1,
        max_length=10,
        description="The case's subject for each role of the item (e.g. `mother`, `newborn`); every "
        "role of a material the caller may read is needed (`400 missing_subject`)",
    )
    on_behalf_of: str = Field(pattern=ON_BEHALF_OF_PATTERN, description="The caseworker, as for one query")
    requested_at: AwareDatetime = Field(description="As for one query: inside the freshness window")


class PrefillElement(ElementResult):
    """One element of a material: the ordinary query result, and the query that asked it."""

    query_id: str | None = Field(
        None,
        description="The query `<prefill_id>.<role index>.<source>` whose answer this is (the SDK "
        "checks the source's signature against it); None when no source was asked",
    )


class PrefillMaterial(BaseModel):
    """A material the caller may read, and whether the elements replace it."""

    name: str
    subject_role: str
    step: str | None = Field(None, description="The bundle step that needs it; None: not in a step")
    status: MaterialStatus = Field(
        description="`supplied`: every element `ok`; `partly`: some; `must_bring`: none, or no element "
        "replaces the material"
    )
    elements: list[PrefillElement]


class PrefillQuery(BaseModel):
    """One of the ordinary queries the prefill fanned out to (one per role and source)."""

    query_id: str
    subject_role: str
    source: str
    elements: list[str]
    refused: str | None = Field(
        None, description="The reason code when the whole query was refused (its elements say `denied`)"
    )


class PrefillOut(BaseModel):
    """Response of the prefill: the caller's materials in the item's order and what is still to bring."""

    prefill_id: str
    service_item: str
    status: Literal["complete", "partial"] = Field(description="`complete`: nothing is left to bring")
    materials: list[PrefillMaterial]
    to_bring: list[str] = Field(
        description="Names of the materials not `supplied`: the applicant brings them"
    )
    queries: list[PrefillQuery]
