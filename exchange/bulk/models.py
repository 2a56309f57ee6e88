"""Bulk query models: one purpose and element list for many subjects, one line of answer per subject."""

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from exchange.queries.models import ON_BEHALF_OF_PATTERN, ElementCode, PurposeIn, QueryOut, SubjectIn

# The bulk id plus `.` and a five-digit index must still be a valid query_id (64 characters at most).
BULK_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_:-]{7,57}$"
MAX_SUBJECTS = 1000  # the schema's ceiling; the gateway's own limit is SHUYUAN_BULK_MAX_SUBJECTS


class BulkQueryIn(BaseModel):
    """Body of POST /v1/bulk-queries: the same elements and purpose for each subject."""

    model_config = ConfigDict(extra="forbid")
    bulk_id: str = Field(
        pattern=BULK_ID_PATTERN,
        description="Chosen by the caller; subject i is asked as query `<bulk_id>.<i>` (i from 0, five "
        "digits), so re-sending the same bulk returns the stored answers (idempotency per subject)",
    )
    subjects: list[SubjectIn] = Field(min_length=1, max_length=MAX_SUBJECTS)
    elements: list[ElementCode] = Field(min_length=1, max_length=500)
    purpose: PurposeIn
    on_behalf_of: str = Field(pattern=ON_BEHALF_OF_PATTERN, description="The caseworker, as for one query")
    requested_at: AwareDatetime = Field(description="As for one query: inside the freshness window")

    @model_validator(mode="after")
    def _distinct_subjects(self) -> "BulkQueryIn":
        seen = {(s.type, s.id) for s in self.subjects}
        if len(seen) != len(self.subjects):
            raise ValueError("a subject is named twice")
        return self


def query_id(bulk_id: str, index: int) -> str:
    """The query id of the bulk's `index`-th subject."""
    return f"{bulk_id}.{index:05d}"


class BulkProblem(BaseModel):
    """Why one subject's query was refused (as its problem+json would say)."""

    status: int
    reason: str
    detail: str


class BulkLine(BaseModel):
    """One line of the NDJSON answer: one subject's answer or refusal, in completion order."""

    index: int = Field(description="the subject's position in the request")
    query_id: str
    answer: QueryOut | None = None
    problem: BulkProblem | None = None


class BulkSummary(BaseModel):
    """The last line of the answer: how many subjects were answered and refused."""

    summary: Literal["bulk"] = "bulk"
    bulk_id: str
    subjects: int
    answered: int
    refused: int
    reasons: dict[str, int] = Field(description="refusals by reason code")


def as_line(model: BaseModel) -> bytes:
    """One NDJSON line."""
    return model.model_dump_json(exclude_none=True).encode() + b"\n"


def line_schema() -> dict[str, Any]:
    """What each line of the answer is (for the OpenAPI description)."""
    return {"oneOf": [BulkLine.model_json_schema(), BulkSummary.model_json_schema()]}
